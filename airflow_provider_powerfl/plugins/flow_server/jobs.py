"""Job routes: submit (the seed's parameters), list, detail, control, metrics, models, logs."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
