"""Placeholder of the task dashboard app (its own module replaces it)."""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI(title="PowerFL dashboard")
