"""Attestation evidence as it travels, and the claims a verifier extracts from it.

Binding: the enclave puts ``sha256(app public key || nonce) || 32 zero bytes`` in its report data, so a quote
vouches for this key and for a nonce the data owner drew (no replay of another session's quote).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal

from airflow_provider_powerfl.exceptions import ConfigError

Platform = Literal["sgx-dcap", "simulated"]
PLATFORMS: tuple[str, ...] = ("sgx-dcap", "simulated")
NONCE_BYTES = 32
PUBLIC_KEY_BYTES = 32  # X25519
SGX_ATTRIBUTE_DEBUG = 0x02  # bit 1 of the first attributes byte (SGX_FLAGS_DEBUG)


def report_data_for(app_public_key: bytes, nonce: bytes) -> bytes:
    """The 64 report-data bytes that bind ``app_public_key`` and ``nonce``."""
    return hashlib.sha256(app_public_key + nonce).digest() + bytes(32)


@dataclass(frozen=True)
class Claims:
    """What verified evidence says about the enclave; ``platform`` tells how far it is to be believed."""

    platform: Platform
    mr_enclave: str  # hex
    mr_signer: str  # hex
    isv_prod_id: int
    isv_svn: int
    debug: bool
    tcb_status: str
    advisory_ids: tuple[str, ...]
    report_data: bytes


@dataclass(frozen=True)
class Evidence:
    """One attestation: the platform's proof (a DCAP quote and its collateral, or a simulated report),
    the enclave app's public key and the nonce it answers."""

    platform: Platform
    app_public_key: bytes
    nonce: bytes
    quote: bytes = b""
    collateral: str = ""  # dcap-qvl's QuoteCollateralV3 JSON
    simulated_report: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain types for the federation codec."""
        return {
            "platform": self.platform, "app_public_key": self.app_public_key, "nonce": self.nonce,
            "quote": self.quote, "collateral": self.collateral, "simulated_report": self.simulated_report or {},
        }  # fmt: skip

    @classmethod
    def from_dict(cls, obj: Any, sender: str) -> Evidence:
        """Evidence received from ``sender``, its shape checked before any use."""
        if not isinstance(obj, dict) or set(obj) != {
            "platform",
            "app_public_key",
            "nonce",
            "quote",
            "collateral",
            "simulated_report",
        }:
            raise ConfigError(f"evidence from {sender}: expected the six evidence fields, got {type(obj).__name__}")
        if obj["platform"] not in PLATFORMS:
            raise ConfigError(f"evidence from {sender}: platform {obj['platform']!r} is none of {PLATFORMS}")
        for name, size in (("app_public_key", PUBLIC_KEY_BYTES), ("nonce", NONCE_BYTES)):
            if not isinstance(obj[name], bytes) or len(obj[name]) != size:
                raise ConfigError(f"evidence from {sender}: {name} must be {size} bytes")
        if not isinstance(obj["quote"], bytes) or not isinstance(obj["collateral"], str):
            raise ConfigError(f"evidence from {sender}: quote must be bytes and collateral text")
        if not isinstance(obj["simulated_report"], dict):
            raise ConfigError(f"evidence from {sender}: simulated_report must be a mapping")
        return cls(
            platform=obj["platform"], app_public_key=obj["app_public_key"], nonce=obj["nonce"], quote=obj["quote"],
            collateral=obj["collateral"], simulated_report=obj["simulated_report"] or None,
        )  # fmt: skip
