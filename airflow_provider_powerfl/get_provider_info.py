"""Entry point Airflow's ProvidersManager calls to discover this provider."""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml


def get_provider_info() -> dict[str, Any]:
    """Return the provider metadata kept in provider.yaml (one source for docs and Airflow)."""
    text = resources.files("airflow_provider_powerfl").joinpath("provider.yaml").read_text()
    return yaml.safe_load(text)
