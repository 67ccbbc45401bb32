"""Errors of the model artifact store; each names the model, version or file."""

from __future__ import annotations

from airflow_provider_powerfl.exceptions import DataError, PowerFLError


class ModelError(PowerFLError):
    """Base class of the artifact store's own errors."""


class ModelNotFoundError(ModelError, LookupError):
    """No such model, or no such version of it."""


class ModelExistsError(ModelError):
    """The version asked for is already written; versions are immutable."""


class ModelCorruptError(ModelError, DataError):
    """An artifact file is missing, unreadable, of an unknown format or fails its checksum."""
