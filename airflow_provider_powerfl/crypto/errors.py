"""Narrow CryptoError subclasses for the Paillier layer, so callers can tell key, size and range faults apart."""

from __future__ import annotations

from airflow_provider_powerfl.exceptions import CryptoError


class InsecureKeyError(CryptoError):
    """A key is shorter than the minimum and the caller did not opt in to insecure lengths."""


class KeyMismatchError(CryptoError):
    """Ciphertexts or keys that belong to different Paillier keys were combined."""


class MalformedCiphertextError(CryptoError):
    """Bytes or integers that cannot be a ciphertext of the given key."""


class EncodingOverflowError(CryptoError, OverflowError):
    """A value does not fit the plaintext range (on encode, pack or decode); never wrapped silently."""
