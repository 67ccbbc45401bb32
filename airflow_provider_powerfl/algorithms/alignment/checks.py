"""Receive small control messages (positions, sizes, parameters) and refuse malformed ones."""

from __future__ import annotations

import numpy as np

from airflow_provider_powerfl.algorithms.alignment.errors import ProtocolViolation
from airflow_provider_powerfl.federation.party import Party


def recv_positions(party: Party, src: str, tag: str, upper: int, timeout: float | None, length: int | None = None) -> np.ndarray:
    """Distinct int64 indices in [0, upper), `length` of them if given."""
    pos = party.recv(src, tag, timeout=timeout)
    if not isinstance(pos, np.ndarray) or pos.dtype != np.int64 or pos.ndim != 1:
        raise ProtocolViolation(party, src, tag, f"expected a 1-D int64 array of positions, got {type(pos).__name__}")
    if length is not None and len(pos) != length:
        raise ProtocolViolation(party, src, tag, f"expected {length} positions, got {len(pos)}")
    if len(pos) > upper or (len(pos) and (pos.min() < 0 or pos.max() >= upper)):
        raise ProtocolViolation(party, src, tag, f"positions outside [0, {upper})")
    if len(np.unique(pos)) != len(pos):
        raise ProtocolViolation(party, src, tag, "positions repeat")
    return pos


def recv_size(party: Party, src: str, tag: str, upper: int, timeout: float | None) -> int:
    """An intersection size {"size": n} with 0 <= n <= upper."""
    msg = party.recv(src, tag, timeout=timeout)
    size = msg.get("size") if isinstance(msg, dict) else None
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= upper:
        raise ProtocolViolation(party, src, tag, f"expected {{'size': 0..{upper}}}, got {msg!r:.80}")
    return size
