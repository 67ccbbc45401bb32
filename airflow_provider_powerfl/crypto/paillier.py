"""Paillier public keys on gmpy2 with DJN fixed-base obfuscators, python-paillier interop and the key floor.

Encryption is ``c = (1 + m n) * h_s^r mod n^2`` with ``h_s = (-x^2)^n mod n^2`` and a short
random ``r`` of ceil(k/2) bits (Damgard-Jurik-Nielsen 2010, sec. 4.2; SecretFlow HEU ZPaillier).
Ciphertexts are ordinary Paillier ciphertexts with g = n + 1, so `phe` decrypts ours and we
decrypt `phe`'s. See docs/crypto/paillier.md for the assumption and the parameter choices. What only
the key owner holds, key generation and the private key, is in paillier_private.py.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from typing import Any

import gmpy2
from gmpy2 import mpz

from airflow_provider_powerfl.crypto.errors import (
    EncodingOverflowError,
    InsecureKeyError,
    KeyMismatchError,
    MalformedCiphertextError,
)
from airflow_provider_powerfl.crypto.fixedbase import DEFAULT_TABLES, DEFAULT_TEETH, FixedBase
from airflow_provider_powerfl.crypto.powmod import powmod_many
from airflow_provider_powerfl.exceptions import CryptoError

DEFAULT_KEY_BITS = 2048
MIN_KEY_BITS = 2048  # ~112-bit security (NIST SP 800-57 part 1, table 2)
# Only the party's own process environment lowers the floor (tests); no job conf or REST call reaches it.
INSECURE_TEST_KEYS_ENV = "POWERFL_INSECURE_TEST_KEYS"
TEST_MIN_KEY_BITS = 512  # the floor under that variable: fast tests, still a real two-prime modulus
# Fewer obfuscators than this, with no comb built yet, are plain powmods (~10 ms each, ~3 ms as owner):
# a one-off encryption (a loss, a few packed sums) should not pay the comb's seconds and ~124 MB.
TABLE_MIN_COUNT = 64

_MPZ = type(mpz(0))
_PUBLIC_MAGIC = b"PFPK1"
# one draw of h_s and one comb per key even when threads share it (crypto/parallel.py): a comb is seconds and ~124 MB
TABLE_LOCK = threading.RLock()


def insecure_test_keys() -> bool:
    """True when this process may use Paillier keys below MIN_KEY_BITS: ${INSECURE_TEST_KEYS_ENV}=1, tests only."""
    return os.environ.get(INSECURE_TEST_KEYS_ENV) == "1"


def min_key_bits() -> int:
    """The least Paillier key length this process generates or lets a job ask for: the one key floor of every
    estimator, the policy and the job contract (MIN_KEY_BITS; TEST_MIN_KEY_BITS under ${INSECURE_TEST_KEYS_ENV}=1)."""
    return TEST_MIN_KEY_BITS if insecure_test_keys() else MIN_KEY_BITS


def valid_key_length(bits: int) -> int:
    """``bits`` if it is an even key length at or above the floor; a ValueError (a validator's error) otherwise."""
    floor = min_key_bits()
    if bits < floor:
        raise ValueError(f"{bits} is below the floor of {floor} bits (lower only in tests, via ${INSECURE_TEST_KEYS_ENV}=1)")
    if bits % 2:
        raise ValueError(f"must be even, got {bits}")
    return bits


def check_key_length(n_bits: int, allow_insecure_key_length: bool) -> None:
    """InsecureKeyError for a key below MIN_KEY_BITS unless the caller allows it (insecure_test_keys())."""
    if n_bits < MIN_KEY_BITS and not allow_insecure_key_length:
        raise InsecureKeyError(
            f"Paillier key of {n_bits} bits is below the minimum of {MIN_KEY_BITS} bits "
            f"(smaller keys only in tests, with {INSECURE_TEST_KEYS_ENV}=1 in the party's own environment)"
        )


class PaillierPublicKey:
    """Public key n; encrypts with this party's own obfuscator base h_s (derived locally, never received).

    Each holder of the key draws its own random h, so a peer cannot plant a weak base. The
    fixed-base comb (~124 MB for 2048-bit keys, 1 to 2.5 s to build) is made on first encryption.
    """

    def __init__(
        self,
        n: int,
        *,
        allow_insecure_key_length: bool = False,
        comb: tuple[int, int] = (DEFAULT_TEETH, DEFAULT_TABLES),
    ) -> None:
        self.n = mpz(n)
        self.n_bits = self.n.bit_length()
        check_key_length(self.n_bits, allow_insecure_key_length)
        if self.n < 15 or self.n % 2 == 0:
            raise CryptoError(f"Paillier modulus must be an odd composite, got {n}")
        self.allow_insecure_key_length = allow_insecure_key_length
        self.nsquare = self.n * self.n
        # same plaintext split as phe: [0, max_int] positive, [n - max_int, n) negative, between = overflow
        self.max_int = self.n // 3 - 1
        self.obfuscator_bits = (self.n_bits + 1) // 2
        self.comb = comb  # (teeth, tables) of the fixed-base comb; see fixedbase.py
        self.ciphertext_bytes = (2 * self.n_bits + 7) // 8
        self.fingerprint = hashlib.sha256(int_bytes(self.n)).hexdigest()[:16]
        self._hs: mpz | None = None
        self._hs_table: FixedBase | None = None

    # -- identity -------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        return isinstance(other, PaillierPublicKey) and self.n == other.n

    def __hash__(self) -> int:
        return hash(self.n)

    def __repr__(self) -> str:
        return f"PaillierPublicKey(bits={self.n_bits}, fingerprint={self.fingerprint})"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_hs"] = state["_hs_table"] = None  # drawn again where it is used; the table is large
        return state

    def check_same(self, other: PaillierPublicKey, what: str = "ciphertexts") -> None:
        if other.n != self.n:
            raise KeyMismatchError(f"{what} belong to key {other.fingerprint}, expected key {self.fingerprint}")

    # -- obfuscators and encryption -------------------------------------------------
    @property
    def hs(self) -> mpz:
        """This holder's obfuscator base h_s."""
        if self._hs is None:
            with TABLE_LOCK:
                if self._hs is None:
                    self._hs = self._new_hs()
        return self._hs

    @property
    def hs_table(self) -> FixedBase:
        if self._hs_table is None:
            with TABLE_LOCK:
                if self._hs_table is None:
                    self._hs_table = FixedBase(self.hs, self.nsquare, self.obfuscator_bits, *self.comb)
        return self._hs_table

    def prepare(self, count: int) -> None:
        """Build the comb now if ``count`` encryptions would use it: threads that then split the batch
        (crypto/parallel.py) each hold too few values to decide on it alone."""
        if count >= TABLE_MIN_COUNT:
            self.hs_table  # noqa: B018 (built on first access)

    def _new_hs(self) -> mpz:
        while True:
            x = mpz(secrets.randbelow(int(self.n)))
            if x > 1 and gmpy2.gcd(x, self.n) == 1:
                return gmpy2.powmod(self.n - x * x % self.n, self.n, self.nsquare)

    def obfuscators(self, count: int) -> list[mpz]:
        """``count`` fresh h_s^r (encryptions of zero); a few without a comb are plain powmods."""
        if self._hs_table is None and count < TABLE_MIN_COUNT:
            return [gmpy2.powmod(self.hs, secrets.randbits(self.obfuscator_bits), self.nsquare) for _ in range(count)]
        return self.hs_table.random_powers(count)

    def raw_encrypt(self, m: int) -> mpz:
        """Encrypt a plaintext residue 0 <= m < n."""
        return self.raw_encrypt_many([m])[0]

    def raw_encrypt_many(self, plaintexts: Sequence[int]) -> list[mpz]:
        return self.encrypt_with(plaintexts, self.obfuscators(len(plaintexts)))

    def encrypt_with(self, plaintexts: Sequence[int], obfuscators: Sequence[mpz]) -> list[mpz]:
        """Encrypt residues 0 <= m < n with the given fresh encryptions of zero (each used once)."""
        n, nsq = self.n, self.nsquare
        residues = [mpz(m) for m in plaintexts]
        for m in residues:
            if not 0 <= m < n:
                raise EncodingOverflowError(f"plaintext residue must be in [0, n), got {m.bit_length()}-bit value")
        # (1 + m n) * obf = obf + n * (m * obf mod n)  (mod n^2): a half-size product instead of a full one
        return [(obf + n * (m * obf % n)) % nsq if m else obf for m, obf in zip(residues, obfuscators, strict=True)]

    def rerandomize(
        self, ciphertexts: Sequence[mpz], threads: Executor | None = None, parts: int = 1, zeros: Sequence[mpz] = ()
    ) -> list[mpz]:
        """Same plaintexts, randomness r^n for a uniform r in Z*_n: apply before results derived from the key
        owner's ciphertexts go back to it.

        Why the full exponent: the result is then a uniform encryption of its plaintext whatever the input
        was, even to the owner, who knows p and q. The short h_s^r of the obfuscators only hides the input
        from those who do not (a dishonest owner with p - 1 and q - 1 sharing a smooth factor can relate
        the two). About 10x a comb obfuscator, paid on packed sums only: ``zeros`` made ahead
        (uniform_zeros, e.g. by a ZeroPool while the party waits) serve first.
        """
        nsq = self.nsquare
        made = list(zeros[: len(ciphertexts)])
        made += self.uniform_zeros(len(ciphertexts) - len(made), threads, parts)
        return [c * zero % nsq for c, zero in zip(ciphertexts, made, strict=True)]

    def uniform_zeros(self, count: int, threads: Executor | None = None, parts: int = 1) -> list[mpz]:
        """``count`` values r^n mod n^2 for uniform r in Z*_n (uniform encryptions of zero); ``parts`` calls
        on ``threads`` share the powers (native, without the GIL)."""
        n, nsq = self.n, self.nsquare
        rs = []
        while len(rs) < count:
            r = mpz(secrets.randbelow(int(n)))
            if r > 1 and gmpy2.gcd(r, n) == 1:
                rs.append(r)
        if threads is None or parts < 2 or len(rs) < 2:
            return powmod_many(rs, n, nsq) if rs else []
        size = -(-len(rs) // parts)
        chunks = [rs[i : i + size] for i in range(0, len(rs), size)]
        return [v for part in threads.map(lambda chunk: powmod_many(chunk, n, nsq), chunks) for v in part]

    def rerandomize_short(self, ciphertexts: Sequence[mpz]) -> list[mpz]:
        """Same plaintexts, fresh short-exponent randomness h_s^r (one comb lookup each): only for results that
        go to a party that does not hold the private key; towards the owner use rerandomize."""
        nsq = self.nsquare
        return [c * obf % nsq for c, obf in zip(ciphertexts, self.obfuscators(len(ciphertexts)), strict=True)]

    # -- signed plaintext mapping ---------------------------------------------------
    def encode_int(self, value: int) -> mpz:
        """Signed integer -> residue mod n (negatives wrap to [n - max_int, n) as phe does)."""
        if abs(value) > self.max_int:
            raise EncodingOverflowError(
                f"integer of {int(abs(value)).bit_length()} bits exceeds the plaintext range "
                f"|v| <= max_int ({self.max_int.bit_length()} bits) of key {self.fingerprint}"
            )
        return mpz(value) % self.n

    def decode_int(self, residue: int) -> int:
        """Residue mod n -> signed integer; the band between the two halves is an overflow."""
        if residue <= self.max_int:
            return int(residue)
        if residue >= self.n - self.max_int:
            return int(residue - self.n)
        raise EncodingOverflowError(
            f"decrypted value lies outside +-max_int of key {self.fingerprint}: a sum or product overflowed"
        )

    # -- ciphertext checks and bytes --------------------------------------------------
    def check_ciphertext(self, c: int) -> mpz:
        """``c`` if it is a unit of Z*_{n^2}, else MalformedCiphertextError."""
        return self.check_ciphertexts([c], "a ciphertext")[0]

    def check_ciphertexts(self, ciphertexts: Sequence[object], what: str) -> list[mpz]:
        """Every value a unit of Z*_{n^2} (an integer, 0 < c < n^2, gcd(c, n) = 1), else MalformedCiphertextError.

        Why: a non-unit is no ciphertext, and its decryption leaks the key (for c = n the CRT decryption
        returns (p + q)^-1 mod n, from which n factors). One gcd of the values' product mod n answers for
        all of them: it is 1 exactly when none shares a factor with n.
        """
        n, nsq = self.n, self.nsquare
        out, product = [], mpz(1)
        for i, c in enumerate(ciphertexts):
            if isinstance(c, bool) or not isinstance(c, (int, _MPZ)) or not 0 < c < nsq:
                raise MalformedCiphertextError(
                    f"{what}: value {i} of {len(ciphertexts)} is not an integer in (0, n^2) of key {self.fingerprint}"
                )
            c = mpz(c)
            product = product * (c % n) % n
            out.append(c)
        if gmpy2.gcd(product, n) != 1:
            i = next(i for i, c in enumerate(out) if gmpy2.gcd(c, n) != 1)
            raise MalformedCiphertextError(
                f"{what}: value {i} of {len(out)} shares a factor with n of key {self.fingerprint}, so it is no ciphertext"
            )
        return out

    def ciphertexts_to_bytes(self, ciphertexts: Iterable[mpz]) -> bytes:
        """Concatenated fixed-width big-endian ciphertexts (``ciphertext_bytes`` each)."""
        width = 2 * self.ciphertext_bytes
        return bytes.fromhex("".join(format(c, f"0{width}x") for c in ciphertexts))

    def ciphertexts_from_bytes(self, data: bytes) -> list[mpz]:
        width = self.ciphertext_bytes
        if len(data) % width:
            raise MalformedCiphertextError(
                f"{len(data)} bytes is not a multiple of the {width}-byte ciphertext width of key {self.fingerprint}"
            )
        view = memoryview(data)
        values = [mpz(int.from_bytes(view[i : i + width], "big")) for i in range(0, len(data), width)]
        return self.check_ciphertexts(values, "ciphertext bytes")

    # -- key serialisation and phe interop ---------------------------------------------
    def to_bytes(self) -> bytes:
        return _PUBLIC_MAGIC + int_bytes(self.n)

    @classmethod
    def from_bytes(cls, data: bytes, *, allow_insecure_key_length: bool = False) -> PaillierPublicKey:
        if not data.startswith(_PUBLIC_MAGIC) or len(data) <= len(_PUBLIC_MAGIC):
            raise CryptoError("bytes are not a serialised Paillier public key (bad magic)")
        n = int.from_bytes(data[len(_PUBLIC_MAGIC) :], "big")
        return cls(n, allow_insecure_key_length=allow_insecure_key_length)

    def to_dict(self) -> dict[str, str]:
        return {"kind": "paillier-public", "n": format(self.n, "x")}

    @classmethod
    def from_dict(cls, data: dict[str, str], *, allow_insecure_key_length: bool = False) -> PaillierPublicKey:
        if data.get("kind") != "paillier-public" or "n" not in data:
            raise CryptoError("dict is not a Paillier public key: needs kind='paillier-public' and 'n'")
        return cls(int(data["n"], 16), allow_insecure_key_length=allow_insecure_key_length)

    def to_phe(self) -> Any:
        from phe import paillier

        return paillier.PaillierPublicKey(int(self.n))

    @classmethod
    def from_phe(cls, phe_key: Any, *, allow_insecure_key_length: bool = False) -> PaillierPublicKey:
        return cls(phe_key.n, allow_insecure_key_length=allow_insecure_key_length)


def int_bytes(value: int) -> bytes:
    """Big-endian bytes of a non-negative integer, at least one: the keys' bytes and fingerprints."""
    value = int(value)
    return value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
