"""Process-pool execution of the heavy Paillier loops in chunks (``n_jobs``), for large vectors and Spark tasks.

Workers receive the key once through the pool initializer (inherited for free under fork; keys
pickle without their tables otherwise) and rebuild fixed-base tables lazily on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
from gmpy2 import mpz

from airflow_provider_powerfl.crypto.multiexp import multiexp_columns

_WORKER_STATE: dict[str, Any] = {}


def _init_worker(state: Any) -> None:
    _WORKER_STATE["state"] = state


def _call(fn: Callable[[Any, Any], list[mpz]], chunk: Any) -> list[mpz]:
    return fn(_WORKER_STATE["state"], chunk)


def _chunks(items: Sequence[Any], n_jobs: int) -> list[Sequence[Any]]:
    size = -(-len(items) // (4 * n_jobs))  # a few chunks per worker evens out stragglers
    return [items[i : i + size] for i in range(0, len(items), size)]


def run_chunked(fn: Callable[[Any, Any], list[mpz]], state: Any, items: Sequence[Any], n_jobs: int) -> list[mpz]:
    """Concatenated fn(state, chunk) over chunks of ``items``; in-process when n_jobs == 1 or input is small."""
    if n_jobs < 1:
        raise ValueError(f"n_jobs must be >= 1, got {n_jobs}")
    if n_jobs == 1 or len(items) < 2 * n_jobs:
        return fn(state, items)
    out: list[mpz] = []
    with ProcessPoolExecutor(max_workers=n_jobs, initializer=_init_worker, initargs=(state,)) as pool:
        for part in pool.map(_call, [fn] * len(_chunks(items, n_jobs)), _chunks(items, n_jobs)):
            out.extend(part)
    return out


def _encrypt(key: Any, residues: Sequence[int]) -> list[mpz]:
    return key.raw_encrypt_many(residues)


def _decrypt(private_key: Any, ciphertexts: Sequence[mpz]) -> list[mpz]:
    return private_key.raw_decrypt_many(ciphertexts)


def raw_encrypt(key: Any, residues: Sequence[int], n_jobs: int = 1) -> list[mpz]:
    return run_chunked(_encrypt, key, residues, n_jobs)


def raw_decrypt(private_key: Any, ciphertexts: Sequence[mpz], n_jobs: int = 1) -> list[mpz]:
    return run_chunked(_decrypt, private_key, ciphertexts, n_jobs)


def _multiexp_rows(modulus: mpz, rows: Sequence[tuple[mpz, np.ndarray]]) -> list[list[mpz]]:
    bases = [b for b, _ in rows]
    return [multiexp_columns(bases, np.stack([e for _, e in rows]), modulus)]


def multiexp(bases: Sequence[mpz], exponents: np.ndarray, modulus: mpz, n_jobs: int = 1) -> list[mpz]:
    """multiexp_columns split by rows across processes; partial products are multiplied here."""
    if n_jobs == 1:
        return multiexp_columns(bases, exponents, modulus)
    rows = list(zip(bases, list(exponents), strict=True))
    partials = run_chunked(_multiexp_rows, mpz(modulus), rows, n_jobs)
    out = [mpz(1)] * exponents.shape[1]
    for part in partials:
        out = [a * b % modulus for a, b in zip(out, part, strict=True)]
    return out
