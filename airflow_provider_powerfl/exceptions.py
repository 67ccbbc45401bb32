"""Exceptions raised on purpose by the provider; each names what is at fault."""

from __future__ import annotations


class PowerFLError(Exception):
    """Base class of every error the provider raises on purpose."""


class ConfigError(PowerFLError, ValueError):
    """A job conf, task spec, registry or connection field is wrong."""


class DataError(PowerFLError, ValueError):
    """An input data file is unusable (missing column, bad value, ...)."""


class CryptoError(PowerFLError, ValueError):
    """A key, ciphertext or encoded value is malformed or does not match."""


class FederationError(PowerFLError):
    """A message between parties could not be delivered or was refused."""
