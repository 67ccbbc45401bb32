"""JSON lines between the enclave and its host: bytes travel as ``{"hex": ...}``."""

from __future__ import annotations

from typing import Any


def to_wire(obj: Any) -> Any:
    if isinstance(obj, bytes):
        return {"hex": obj.hex()}
    if isinstance(obj, dict):
        return {k: to_wire(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_wire(v) for v in obj]
    return obj


def from_wire(obj: Any) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {"hex"} and isinstance(obj["hex"], str):
            return bytes.fromhex(obj["hex"])
        return {k: from_wire(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_wire(v) for v in obj]
    return obj
