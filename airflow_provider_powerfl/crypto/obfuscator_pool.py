"""Encryptions of zero made ahead in a background thread, so encrypting or rerandomizing later is one product per value.

Why: an obfuscator does not depend on the plaintext. A party that mostly waits for its peers
(the SecureBoost guest while hosts build histograms, a hetero LR host while the guest encrypts)
makes the next batch's in that time; the thread runs at the lowest CPU priority (Linux: per
thread), so it takes only otherwise idle CPU, and the native code releases the GIL. Every value
is handed out once and never reused. Two kinds: the owner's short-exponent obfuscators of its own
key (ObfuscatorPool, for its encryptions) and uniform r^n of a peer's key (ZeroPool, for the
rerandomization of results that go back to that peer).
"""

from __future__ import annotations

import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Self

from gmpy2 import mpz

from airflow_provider_powerfl.crypto.paillier import PaillierPublicKey
from airflow_provider_powerfl.crypto.paillier_private import PaillierPrivateKey

BATCH = 128  # obfuscators per native call (~40 ms at 2048 bits)


class _Pool:
    """Keeps up to ``capacity`` values of ``make(count)`` ready, ``batch`` per call; ``take`` removes them."""

    def __init__(self, make: Callable[[int], list[mpz]], capacity: int, batch: int = BATCH) -> None:
        self.capacity = max(int(capacity), 0)
        self._make, self._batch = make, batch
        self._ready: deque[mpz] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._fill, name="obfuscator-pool", daemon=True)
        self._thread.start()

    def _fill(self) -> None:
        if sys.platform.startswith("linux"):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)  # this thread only
        try:
            while True:
                with self._cond:
                    while not self._closed and len(self._ready) >= self.capacity:
                        self._cond.wait()
                    if self._closed:
                        return
                    want = min(self._batch, self.capacity - len(self._ready))
                made = self._make(want)
                with self._cond:
                    if not self._closed:
                        self._ready.extend(made)
        except BaseException as exc:  # noqa: BLE001 - surfaced by take(), the caller's thread
            with self._cond:
                self._error = exc

    def take(self, count: int) -> list[mpz]:
        """Up to ``count`` ready obfuscators (maybe none); the pool refills behind them."""
        with self._cond:
            if self._error is not None:
                raise self._error
            out = [self._ready.popleft() for _ in range(min(count, len(self._ready)))]
            self._cond.notify()
        return out

    def close(self) -> None:
        """Drop what is left; the thread ends after its current batch (not awaited: at the lowest
        priority on a busy machine that batch may take seconds)."""
        with self._cond:
            self._closed = True
            self._ready.clear()
            self._cond.notify()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ObfuscatorPool(_Pool):
    """The owner's fresh obfuscators of ``private_key`` (CRT, short exponent), for its own encryptions."""

    def __init__(self, private_key: PaillierPrivateKey, capacity: int) -> None:
        self.private_key = private_key
        super().__init__(private_key.obfuscators, capacity)

    def encrypt(self, plaintexts: list[int]) -> list[mpz]:
        """Ciphertexts of the first k residues, k = how many obfuscators were ready (the caller encrypts the rest)."""
        obfuscators = self.take(len(plaintexts))
        return self.private_key.public_key.encrypt_with(plaintexts[: len(obfuscators)], obfuscators)


class ZeroPool(_Pool):
    """Uniform r^n of a peer's ``public_key``, for the rerandomization of results that go back to that peer."""

    def __init__(self, public_key: PaillierPublicKey, capacity: int) -> None:
        self.public_key = public_key
        super().__init__(public_key.uniform_zeros, capacity, batch=8)  # ~10 ms each: small calls, taken often

    def rerandomize(self, ciphertexts: Sequence[mpz]) -> list[mpz]:
        """public_key.rerandomize, with the ready values first."""
        return self.public_key.rerandomize(ciphertexts, zeros=self.take(len(ciphertexts)))
