"""Spread the per-id exponentiations of a party over a few worker processes.

X25519 runs at ~26k multiplications/s and an RSA CRT signature at ~1.3k/s per
core, all inside one C call per id, so threads do not help; processes do.
Workers are spawned (not forked) because the parent may hold Kafka threads.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

import numpy as np

from airflow_provider_powerfl.crypto import rsa_blind, x25519

T = TypeVar("T")
# fewer ids than this: spawning workers (~1 s) costs more than it saves
PARALLEL_THRESHOLD = {"ecdh": 100_000, "rsa": 5_000}


def default_workers(n_ids: int, protocol: str = "ecdh") -> int:
    return 1 if n_ids < PARALLEL_THRESHOLD[protocol] else max(1, min(2, os.cpu_count() or 1))


class Workers:
    """A process pool (or none, for one worker) that runs the crypto kernels on slices."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._pool = (
            ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn")) if self.workers > 1 else None
        )

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def peak_rss_mb(self) -> float:
        """Sum of the workers' peak resident memory (Linux VmHWM), 0 without workers."""
        total = 0.0
        for pid in list(getattr(self._pool, "_processes", None) or {}):
            try:
                with open(f"/proc/{pid}/status") as status:
                    total += next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
            except (OSError, StopIteration, ValueError):
                continue
        return total

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def _spread(self, fn: Callable[..., T], key: object, pieces: list[object]) -> list[T]:
        if self._pool is None or len(pieces) < 2:
            return [fn(key, piece) for piece in pieces]
        return list(self._pool.map(fn, [key] * len(pieces), pieces))

    def _split(self, n: int) -> list[slice]:
        parts = self.workers if (self._pool is not None and n >= 2 * self.workers) else 1
        bounds = np.linspace(0, n, parts + 1).astype(int)
        return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def multiply(self, scalar: bytes, points: np.ndarray) -> np.ndarray:
        """X25519 scalar * each row of an (n, 32) uint8 array."""
        points = np.ascontiguousarray(points, dtype=np.uint8)
        pieces = [points[s].tobytes() for s in self._split(len(points))]
        out = b"".join(self._spread(x25519.multiply, scalar, pieces))
        return np.frombuffer(out, dtype=np.uint8).reshape(-1, x25519.POINT_BYTES).copy()

    def sign(self, key: rsa_blind.RsaSigningKey, values: list[int]) -> list[int]:
        """RSA CRT signature of each value."""
        pieces = [values[s] for s in self._split(len(values))]
        return [s for part in self._spread(rsa_blind.sign, key, pieces) for s in part]
