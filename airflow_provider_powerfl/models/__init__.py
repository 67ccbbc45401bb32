"""Per-party model artifacts: versioned, immutable, checksummed. See docs/models.md."""

from __future__ import annotations

from airflow_provider_powerfl.models.errors import (
    ModelCorruptError,
    ModelError,
    ModelExistsError,
    ModelNotFoundError,
)
from airflow_provider_powerfl.models.store import (
    FORMAT_VERSION,
    LoadedModel,
    ModelRef,
    PeerModel,
    list_versions,
    load_model,
    make_model_id,
    save_model,
)

__all__ = [
    "FORMAT_VERSION",
    "LoadedModel",
    "ModelCorruptError",
    "ModelError",
    "ModelExistsError",
    "ModelNotFoundError",
    "ModelRef",
    "PeerModel",
    "list_versions",
    "load_model",
    "make_model_id",
    "save_model",
]
