"""The heavy Paillier loops of a protocol, split into row chunks and run through an injectable map.

Why: the protocol must stay Spark-free, yet a Spark job should be able to spread the
encryptions, decryptions and multi-exponentiations of one party over its executors. A
"chunk map" is any ``map(fn, items) -> iterable`` (a :class:`ThreadChunkMap` on this process's
crypto threads, the default; a ``concurrent.futures.Executor``; or a function the Spark job passes
that maps the items over partitions, each chunk then running on one core of its task). Kernels are
module-level functions of picklable arguments. Keys are cached per worker by fingerprint
so the fixed-base tables (seconds to build for 2048-bit keys) are built once per worker,
not per chunk.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from typing import Any

import gmpy2
import numpy as np
from gmpy2 import mpz

from airflow_provider_powerfl.crypto import parallel
from airflow_provider_powerfl.crypto.errors import MalformedCiphertextError
from airflow_provider_powerfl.crypto.multiexp import MAX_EXPONENT_BITS, multiexp_columns
from airflow_provider_powerfl.crypto.obfuscator_pool import ObfuscatorPool, ZeroPool
from airflow_provider_powerfl.crypto.paillier import PaillierPublicKey
from airflow_provider_powerfl.crypto.paillier_private import PaillierPrivateKey
from airflow_provider_powerfl.crypto.powmod import powmod_each
from airflow_provider_powerfl.crypto.vector import object_array
from airflow_provider_powerfl.exceptions import ConfigError

log = logging.getLogger(__name__)

ChunkMap = Callable[[Callable[[Any], Any], Sequence[Any]], Iterable[Any]]
Key = PaillierPublicKey | PaillierPrivateKey

LIMB_BITS = 56  # scaled_xt_dot's limbs: |limb| < 2^MAX_EXPONENT_BITS with room for the top limb's sign
CHUNK_ROWS = 1024  # rows per task when an executor is given: enough work to amortise shipping the key
_KEY_CACHE_SIZE = 4
_worker_keys: OrderedDict[tuple[str, str], Key] = OrderedDict()


def as_chunk_map(executor: object) -> tuple[ChunkMap, int]:
    """(map function, rows per chunk) for an ``executor`` argument; None is this process's crypto threads."""
    if executor is None:
        executor = ThreadChunkMap()
    if isinstance(executor, Executor):
        return (lambda fn, items: executor.map(fn, items)), CHUNK_ROWS
    if callable(executor):
        return executor, CHUNK_ROWS  # type: ignore[return-value]
    raise ConfigError(
        f"executor must be None, a concurrent.futures.Executor or a map(fn, items) callable, got {type(executor).__name__}"
    )


class ThreadChunkMap:
    """A chunk map over ``threads`` threads (default: crypto.parallel.threads()) of the process-wide crypto
    pool; the kernels give it one near-equal chunk per thread.

    Why: each kernel's heavy loop is native code that releases the GIL (the comb, the
    multi-exponentiation and the powers in C, gmpy2's with ``allow_release_gil``), so threads keep every
    core busy without pickling each chunk to a worker process and back. On a local Spark master
    that round trip through the Python workers cost as much CPU as a batch's encryptions and
    X^T c themselves (docs/benchmarks/hetero_lr.md).
    """

    def __init__(self, threads: int | None = None) -> None:
        threads = parallel.threads() if threads is None else threads
        if threads < 1:
            raise ConfigError(f"a thread chunk map needs at least one thread, got {threads}")
        self.parallelism = threads

    def __call__(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        return parallel.map_chunks(fn, list(items), self.parallelism)


def share(executor: object, value: Any) -> tuple[Any, Callable[[], None]]:
    """(handle, release) if the executor shares one value among many chunks (Spark: a broadcast, sent
    to each worker once instead of with every chunk; chunks read ``handle.value``), else (None, a no-op):
    then chunks carry their own inputs."""
    sharer = getattr(executor, "share", None)
    return sharer(value) if sharer is not None else (None, lambda: None)


def _cached(key: Key) -> Key:
    """The worker's copy of ``key`` that already holds its tables (same key, found by fingerprint)."""
    ident = (type(key).__name__, key.fingerprint)
    found = _worker_keys.get(ident)
    if found is None:
        _worker_keys[ident] = found = key
        while len(_worker_keys) > _KEY_CACHE_SIZE:
            _worker_keys.popitem(last=False)
    else:
        _worker_keys.move_to_end(ident)
    return found


def _gmpy2_releases_gil() -> None:
    """Let gmpy2 release the GIL in this thread's big-number operations (contexts are per thread), so
    chunks on threads of another pool run in parallel (the crypto pool's threads already do); a no-op cost elsewhere."""
    gmpy2.get_context().allow_release_gil = True


def _encrypt_chunk(args: tuple[Key, list[int]]) -> list[mpz]:
    key, residues = args
    _gmpy2_releases_gil()
    return _cached(key).raw_encrypt_many(residues)


def _decrypt_chunk(args: tuple[PaillierPrivateKey, list[mpz]]) -> list[mpz]:
    key, ciphertexts = args
    _gmpy2_releases_gil()
    return _cached(key).raw_decrypt_many(ciphertexts)


def _multiexp_chunk(args: tuple[mpz, list[mpz], np.ndarray]) -> list[mpz]:
    modulus, bases, exponents = args
    return multiexp_columns(bases, exponents, modulus)


def _power_chunk(args: tuple[mpz, list[mpz], list[int]]) -> list[mpz]:
    modulus, bases, exponents = args
    return powmod_each(bases, exponents, modulus)


def _most_frequent(column: np.ndarray) -> int:
    values, counts = np.unique(column, return_counts=True)
    return int(values[np.argmax(counts)]) if len(values) else 0


def _int64_limbs(exponents: np.ndarray) -> list[np.ndarray]:
    """Exact integer exponents (any size, signed) as int64 limbs L_k with E = sum_k L_k 2^(LIMB_BITS k)."""
    values = np.asarray(exponents, dtype=object)
    limbs, mask = [], (1 << LIMB_BITS) - 1
    while True:
        top = max((abs(int(v)) for v in values.flat), default=0)
        if top.bit_length() < MAX_EXPONENT_BITS:
            return [*limbs, values.astype(np.int64)]
        limbs.append((values & mask).astype(np.int64))  # two's complement: the low limb is in [0, 2^LIMB_BITS)
        values = values >> LIMB_BITS


class Kernels:
    """Chunked encrypt / decrypt / X^T c for one party, through its chunk map (None: this process's crypto threads)."""

    def __init__(self, executor: object = None) -> None:
        self._map, self._chunk_rows = as_chunk_map(executor)
        self._parallelism = self._map.parallelism if isinstance(self._map, ThreadChunkMap) else None

    def _slices(self, n: int) -> list[slice]:
        size = self._chunk_rows
        if self._parallelism is not None:  # threads: no per-chunk cost, so one chunk per thread balances best
            size = -(-n // self._parallelism)
        return [slice(i, i + size) for i in range(0, n, max(size, 1))] or [slice(0, 0)]

    def encrypt(self, key: Key, values: Sequence[int], pool: ObfuscatorPool | None = None) -> np.ndarray:
        """Ciphertexts of signed integers; the owner passes its private key for CRT encryption, and may
        pass a pool of that key: obfuscators it made ahead serve first (one product per value)."""
        public = key.public_key if isinstance(key, PaillierPrivateKey) else key
        residues = [public.encode_int(v) for v in values]
        if pool is not None and pool.private_key is not key:
            raise ConfigError("the obfuscator pool belongs to another key")
        ready = pool.encrypt(residues) if pool is not None else []
        rest = residues[len(ready) :]
        if self._parallelism is not None:  # threads share this process's copy: its comb is built once, before the split
            _cached(key).prepare(len(rest))
        parts = self._map(_encrypt_chunk, [(key, rest[s]) for s in self._slices(len(rest))]) if rest else []
        log.debug("encrypted %d values, %d with obfuscators made ahead", len(residues), len(ready))
        return object_array([*ready, *(c for part in parts for c in part)])

    def decrypt(self, key: PaillierPrivateKey, ciphertexts: np.ndarray) -> list[int]:
        """Signed integers; an overflowed value raises EncodingOverflowError."""
        cts = list(ciphertexts)
        parts = self._map(_decrypt_chunk, [(key, cts[s]) for s in self._slices(len(cts))])
        public = key.public_key
        return [public.decode_int(m) for part in parts for m in part]

    def xt_dot(self, public: PaillierPublicKey, ciphertexts: np.ndarray, exponents: np.ndarray) -> np.ndarray:
        """[prod_i c_i^{E_ij}]_j = [[E^T m]] for int64 exponents E (rows x columns), by crypto.multiexp (C on GMP)."""
        nsq = public.nsquare
        cts = list(ciphertexts)
        parts = list(self._map(_multiexp_chunk, [(nsq, cts[s], exponents[s]) for s in self._slices(len(cts))]))
        out = parts[0]
        for part in parts[1:]:
            out = [a * b % nsq for a, b in zip(out, part, strict=True)]
        return object_array(out)

    def scaled_xt_dot(self, public: PaillierPublicKey, ciphertexts: np.ndarray, exponents: np.ndarray,
                      factors: Sequence[int]) -> np.ndarray:  # fmt: skip
        """[[(f * E)^T m]]: per-row integer factors f_i folded into the exponents (one multi-exponentiation
        instead of a powmod per row), in int64 limbs when the products outgrow one.

        Each column is first shifted by its most frequent value s_j, as the native code does for plain
        exponents: prod_i c_i^(f_i E_ij) = (prod_i c_i^f_i)^s_j prod_i c_i^(f_i (E_ij - s_j)), so a
        standardized 0/1 column still costs one product per row off its dominant value.
        """
        nsq, f = public.nsquare, np.asarray([int(v) for v in factors], dtype=object)[:, np.newaxis]
        E = np.asarray(exponents, dtype=np.int64)
        shifts = [_most_frequent(E[:, j]) for j in range(E.shape[1])]
        out = self._exact_xt_dot(public, ciphertexts, (E - np.asarray(shifts, dtype=np.int64)).astype(object) * f)
        if any(shifts):
            (weighted,) = self._exact_xt_dot(public, ciphertexts, f)
            out = object_array(c * gmpy2.powmod(weighted, s, nsq) % nsq if s else c for c, s in zip(out, shifts, strict=True))
        return out

    def _exact_xt_dot(self, public: PaillierPublicKey, ciphertexts: np.ndarray, exponents: np.ndarray) -> np.ndarray:
        """xt_dot of exact (Python int) exponents of any size: one multi-exponentiation per int64 limb."""
        out = None
        for k, limb in enumerate(_int64_limbs(exponents)):
            part = self.xt_dot(public, ciphertexts, limb)
            if k:
                part = object_array(gmpy2.powmod(c, 1 << (LIMB_BITS * k), public.nsquare) for c in part)
            out = part if out is None else add(public, out, part)
        return out

    def power(self, public: PaillierPublicKey, ciphertexts: np.ndarray, exponents: Sequence[int]) -> np.ndarray:
        """[[m_i * e_i]] element-wise (negative exponents invert), in chunks through the map."""
        cts, exps = list(ciphertexts), [int(e) for e in exponents]
        parts = self._map(_power_chunk, [(public.nsquare, cts[s], exps[s]) for s in self._slices(len(cts))])
        return object_array(c for part in parts for c in part)


def check_ciphertexts(public: PaillierPublicKey, obj: object, length: int, *, peer: str, what: str) -> np.ndarray:
    """What ``peer`` sent as ``what``, if it is a vector of ``length`` units of Z*_{n^2}; else
    MalformedCiphertextError naming the peer, the message and the key, before anything is decrypted or
    computed on. Every protocol path that takes a peer's ciphertexts goes through here."""
    where = f"party {peer} sent malformed {what}"
    if not isinstance(obj, np.ndarray) or obj.dtype != object or obj.shape != (length,):
        shape = getattr(obj, "shape", type(obj).__name__)
        raise MalformedCiphertextError(f"{where}: expected {length} ciphertexts of key {public.fingerprint}, got {shape}")
    return object_array(public.check_ciphertexts(list(obj), where))


def add_plain(public: PaillierPublicKey, ciphertexts: np.ndarray, values: Sequence[int]) -> np.ndarray:
    """[[m + v]] = c * (1 + v n) mod n^2: one multiplication per element, no exponentiation."""
    n, nsq = public.n, public.nsquare
    return object_array(c * (1 + public.encode_int(v) * n) % nsq for c, v in zip(ciphertexts, values, strict=True))


def add(public: PaillierPublicKey, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    nsq = public.nsquare
    return object_array(x * y % nsq for x, y in zip(a, b, strict=True))


def rerandomize(public: PaillierPublicKey, ciphertexts: np.ndarray, zeros: ZeroPool | None = None) -> np.ndarray:
    """Fresh full-exponent randomness, so the key owner cannot relate a result to the ciphertexts it came from;
    ``zeros``, a pool of that key, serves what it made ahead."""
    if zeros is not None:
        public.check_same(zeros.public_key, "the zero pool's values")
        return object_array(zeros.rerandomize(list(ciphertexts)))
    return object_array(public.rerandomize(list(ciphertexts)))
