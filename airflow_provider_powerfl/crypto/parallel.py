"""One process-wide thread pool for the heavy Paillier loops, split into one near-equal chunk per thread.

Why threads: the loops are native code that releases the GIL (the comb of _fixedbase.c, the
multi-exponentiation of _multiexp.c, the powers of _powmod.c), so threads of one process keep every
core busy with nothing pickled; the process pool per call this replaced gained 1.1x on two cores
(pool start-up, mpz pickled both ways). How many threads: ${POWERFL_CRYPTO_THREADS}, else the CPUs
this process may run on; ``limit(n)`` lowers it for the calling thread (a Spark task: its task's
cpus). A call made on one of the pool's own threads runs inline, so nested splits never wait on the
pool they occupy.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import gmpy2
import numpy as np
from gmpy2 import mpz

from airflow_provider_powerfl.crypto.multiexp import multiexp_columns
from airflow_provider_powerfl.exceptions import ConfigError

THREADS_ENV = "POWERFL_CRYPTO_THREADS"

T = TypeVar("T")
_local = threading.local()
_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def default_threads() -> int:
    """${POWERFL_CRYPTO_THREADS} if set, else the CPUs this process may run on."""
    raw = os.environ.get(THREADS_ENV)
    if raw is None or raw == "":
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{THREADS_ENV} must be a positive integer, got {raw!r}")
    return value


def threads() -> int:
    """Threads a crypto call made on this thread may use: 1 on a pool thread, else limit()'s cap or the default."""
    if getattr(_local, "in_pool", False):
        return 1
    cap = getattr(_local, "cap", None)
    return cap if cap is not None else default_threads()


@contextmanager
def limit(count: int) -> Iterator[None]:
    """At most ``count`` threads for the crypto calls this thread makes inside the block."""
    if count < 1:
        raise ConfigError(f"crypto threads must be >= 1, got {count}")
    previous = getattr(_local, "cap", None)
    _local.cap = count
    try:
        yield
    finally:
        _local.cap = previous


def _start_thread() -> None:
    _local.in_pool = True
    gmpy2.get_context().allow_release_gil = True  # gmpy2's own powmods in a chunk then run beside the others


def pool(size: int) -> ThreadPoolExecutor:
    """The process-wide pool, grown to at least ``size`` threads (a bigger pool replaces it; the old one,
    not shut down under a caller that may still submit to it, ends its threads once unreferenced)."""
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < size:
            _pool, _pool_size = ThreadPoolExecutor(size, "powerfl-crypto", _start_thread), size
        return _pool


def _forget_pool() -> None:
    """In a forked child: the parent's pool threads do not exist here, so the next call starts a pool of its own."""
    global _lock, _pool, _pool_size
    _lock, _pool, _pool_size = threading.Lock(), None, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def split(count: int, parts: int) -> list[slice]:
    """``parts`` near-equal slices of range(count), none empty (one slice [0:0] for nothing)."""
    parts = max(1, min(parts, count))
    bounds = np.linspace(0, count, parts + 1).astype(int)
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def map_chunks(fn: Callable[[Any], T], chunks: Sequence[Any], n_jobs: int | None = None) -> list[T]:
    """[fn(chunk) for chunk in chunks], on up to ``n_jobs`` (default threads()) pool threads; in order; the
    first exception raised by a chunk propagates."""
    count = threads() if n_jobs is None else n_jobs
    if count < 1:
        raise ConfigError(f"n_jobs must be >= 1, got {count}")
    if count == 1 or len(chunks) <= 1 or getattr(_local, "in_pool", False):
        return [fn(chunk) for chunk in chunks]
    count = min(count, len(chunks))
    out: list[Any] = [None] * len(chunks)

    def run(first: int) -> None:  # thread ``first`` takes chunks first, first + count, ...: never more than count threads
        for i in range(first, len(chunks), count):
            out[i] = fn(chunks[i])

    list(pool(count).map(run, range(count)))
    return out


def run_chunked(fn: Callable[[Any, Any], list[T]], state: Any, items: Sequence[Any], n_jobs: int | None = None) -> list[T]:
    """fn(state, chunk) over one chunk of ``items`` per thread, concatenated."""
    count = threads() if n_jobs is None else n_jobs
    chunks = [items[s] for s in split(len(items), count)]
    return [v for part in map_chunks(lambda chunk: fn(state, chunk), chunks, count) for v in part]


def _encrypt(key: Any, residues: Sequence[int]) -> list[mpz]:
    return key.raw_encrypt_many(residues)


def _decrypt(private_key: Any, ciphertexts: Sequence[mpz]) -> list[mpz]:
    return private_key.raw_decrypt_many(ciphertexts)


def raw_encrypt(key: Any, residues: Sequence[int], n_jobs: int | None = None) -> list[mpz]:
    """key.raw_encrypt_many over the threads (a public key, or the owner's private key for CRT); the comb
    is built first if the whole batch would use it."""
    key.prepare(len(residues))
    return run_chunked(_encrypt, key, residues, n_jobs)


def raw_decrypt(private_key: Any, ciphertexts: Sequence[mpz], n_jobs: int | None = None) -> list[mpz]:
    return run_chunked(_decrypt, private_key, ciphertexts, n_jobs)


def multiexp(bases: Sequence[mpz], exponents: np.ndarray, modulus: mpz, n_jobs: int | None = None) -> list[mpz]:
    """multiexp_columns with the rows split over the threads, the partial products multiplied here (the same
    residues as one call)."""
    count = threads() if n_jobs is None else n_jobs
    slices = split(len(bases), count)
    if len(slices) == 1:
        return multiexp_columns(bases, exponents, modulus)
    parts = map_chunks(lambda s: multiexp_columns(bases[s], exponents[s], modulus), slices, count)
    out = parts[0]
    for part in parts[1:]:
        out = [a * b % modulus for a, b in zip(out, part, strict=True)]
    return out
