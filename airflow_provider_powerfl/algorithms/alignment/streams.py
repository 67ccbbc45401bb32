"""Send and receive (n, width) uint8 row arrays in batches, checking every batch that arrives.

A stream is a header {"rows": n, "width": w} then ceil(n / batch) arrays on
one tag, so the receiver can start work on the first batch while the sender
computes the next, and memory holds one batch of Python objects at a time.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from airflow_provider_powerfl.algorithms.alignment.errors import ProtocolViolation
from airflow_provider_powerfl.federation.party import Party

MAX_ROWS = 1 << 31  # a stream announcing more is refused at its header


def send_header(party: Party, dst: str, tag: str, rows: int, width: int) -> None:
    party.send(dst, tag, {"rows": int(rows), "width": int(width)})


def send_batch(party: Party, dst: str, tag: str, batch: np.ndarray) -> None:
    party.send(dst, tag, np.ascontiguousarray(batch, dtype=np.uint8))


def send_rows(party: Party, dst: str, tag: str, rows: np.ndarray, batch_size: int) -> None:
    """Header then the rows in batches of `batch_size`."""
    send_header(party, dst, tag, len(rows), rows.shape[1])
    for start in range(0, len(rows), batch_size):
        send_batch(party, dst, tag, rows[start : start + batch_size])


def recv_header(party: Party, src: str, tag: str, width: int, timeout: float | None) -> int:
    """The row count of the stream `src` opens on `tag`; refuses a header that is not one."""
    head = party.recv(src, tag, timeout=timeout)
    if (
        not isinstance(head, dict)
        or set(head) != {"rows", "width"}
        or not isinstance(head["rows"], int)
        or isinstance(head["rows"], bool)
        or not 0 <= head["rows"] <= MAX_ROWS
        or head["width"] != width
    ):
        raise ProtocolViolation(party, src, tag, f"expected a stream header with width {width}, got {_describe(head)}")
    return head["rows"]


def recv_rows(party: Party, src: str, tag: str, width: int, timeout: float | None, rows: int | None = None) -> np.ndarray:
    """A whole stream as one (n, width) array.

    Memory grows with the rows that arrive, not with the header's claim: a peer announcing 2^31 rows
    and sending one makes this party hold one.
    """
    total = recv_header(party, src, tag, width, timeout)
    if rows is not None and total != rows:
        raise ProtocolViolation(party, src, tag, f"announced {total} rows where {rows} were due")
    parts = list(batches(party, src, tag, width, total, timeout))
    return np.concatenate(parts) if parts else np.empty((0, width), dtype=np.uint8)


def batches(party: Party, src: str, tag: str, width: int, total: int, timeout: float | None) -> Iterator[np.ndarray]:
    """The batches of a stream whose header announced `total` rows."""
    seen = 0
    while seen < total:
        batch = party.recv(src, tag, timeout=timeout)
        if (
            not isinstance(batch, np.ndarray)
            or batch.dtype != np.uint8
            or batch.ndim != 2
            or batch.shape[1] != width
            or not 0 < len(batch) <= total - seen
        ):
            raise ProtocolViolation(
                party, src, tag, f"expected a uint8 batch of at most {total - seen} rows x {width}, got {_describe(batch)}"
            )
        seen += len(batch)
        yield batch


def _describe(obj: object) -> str:
    if isinstance(obj, np.ndarray):
        return f"array {obj.dtype} {obj.shape}"
    if isinstance(obj, dict):
        return f"dict with keys {sorted(obj)}"
    return type(obj).__name__
