"""Encryptions of zero made ahead by the key owner in a background thread, so encrypting later is one product per value.

Why: an obfuscator h_s^r does not depend on the plaintext. A party that mostly waits for its
peers (the SecureBoost guest while hosts build histograms) makes the next batch's obfuscators
in that time; the thread runs at the lowest CPU priority (Linux: per thread), so it takes
only otherwise idle CPU, and the native comb releases the GIL. Every obfuscator is handed
out once and never reused.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import deque

from gmpy2 import mpz

from airflow_provider_powerfl.crypto.paillier import PaillierPrivateKey

BATCH = 128  # obfuscators per native call (~40 ms at 2048 bits)


class ObfuscatorPool:
    """Keeps up to ``capacity`` fresh obfuscators of ``private_key`` ready; ``take`` removes them."""

    def __init__(self, private_key: PaillierPrivateKey, capacity: int) -> None:
        self.private_key = private_key
        self.capacity = max(int(capacity), 0)
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
                    want = min(BATCH, self.capacity - len(self._ready))
                made = self.private_key.obfuscators(want)
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

    def encrypt(self, plaintexts: list[int]) -> list[mpz]:
        """Ciphertexts of the first k residues, k = how many obfuscators were ready (the caller encrypts the rest)."""
        obfuscators = self.take(len(plaintexts))
        return self.private_key.public_key.encrypt_with(plaintexts[: len(obfuscators)], obfuscators)

    def close(self) -> None:
        """Drop what is left; the thread ends after its current batch (not awaited: at the lowest
        priority on a busy machine that batch may take seconds)."""
        with self._cond:
            self._closed = True
            self._ready.clear()
            self._cond.notify()

    def __enter__(self) -> ObfuscatorPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
