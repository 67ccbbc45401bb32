"""The key owner's half of Paillier: key generation and the private key (CRT decryption, and encryption mod p^2
and q^2 with the same ciphertext distribution as the public path), apart from the public key every holder uses
(paillier.py). See docs/crypto/paillier.md.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import gmpy2
from gmpy2 import mpz

from airflow_provider_powerfl.crypto.errors import KeyMismatchError, MalformedCiphertextError
from airflow_provider_powerfl.crypto.fixedbase import FixedBase
from airflow_provider_powerfl.crypto.paillier import (
    DEFAULT_KEY_BITS,
    TABLE_LOCK,
    TABLE_MIN_COUNT,
    PaillierPublicKey,
    check_key_length,
    int_bytes,
)
from airflow_provider_powerfl.crypto.powmod import powmod_many
from airflow_provider_powerfl.exceptions import CryptoError

_PRIVATE_MAGIC = b"PFSK1"


def _random_prime(bits: int) -> mpz:
    """A prime of exactly ``bits`` bits, top two bits set (so p*q has 2*bits bits), p = 3 mod 4."""
    while True:
        candidate = mpz(secrets.randbits(bits)) | (mpz(3) << (bits - 2)) | 3
        p = gmpy2.next_prime(candidate)
        if p % 4 == 3 and p.bit_length() == bits:
            return p


def generate_keypair(
    n_bits: int = DEFAULT_KEY_BITS, *, allow_insecure_key_length: bool = False
) -> tuple[PaillierPublicKey, PaillierPrivateKey]:
    """New key pair with n of exactly ``n_bits`` bits; p = q = 3 mod 4 and gcd(p-1, q-1) = 2 as HEU does."""
    check_key_length(n_bits, allow_insecure_key_length)
    if n_bits % 2 or n_bits < 64:
        raise CryptoError(f"n_bits must be even and >= 64, got {n_bits}")
    half = n_bits // 2
    while True:
        # a fresh pair per try: with p kept, a p near the middle of [0.75, 1) * 2^half leaves almost no q
        # far enough from it, and key generation took up to 39 s (mean time unbounded, not just slow)
        p, q = _random_prime(half), _random_prime(half)
        # |p - q| close to 2^half defeats Fermat factoring; gcd 2 keeps <h> large
        if gmpy2.gcd(p - 1, q - 1) == 2 and (p - q).bit_length() >= half - 2:
            break
    public_key = PaillierPublicKey(p * q, allow_insecure_key_length=allow_insecure_key_length)
    return public_key, PaillierPrivateKey(public_key, p, q)


class PaillierPrivateKey:
    """p and q: CRT decryption (mod p^2 and q^2 with hp, hq as phe) and CRT encryption for the owner."""

    def __init__(self, public_key: PaillierPublicKey, p: int, q: int) -> None:
        p, q = mpz(p), mpz(q)
        if p * q != public_key.n or p == q:
            raise KeyMismatchError(f"p and q do not factor the modulus of key {public_key.fingerprint}")
        self.public_key = public_key
        self.p, self.q = (p, q) if p < q else (q, p)
        self.psquare, self.qsquare = self.p * self.p, self.q * self.q
        self.p_inverse = gmpy2.invert(self.p, self.q)
        self.hp = self._h(self.p, self.psquare)
        self.hq = self._h(self.q, self.qsquare)
        self.qsquare_inverse = gmpy2.invert(self.qsquare, self.psquare)  # for CRT mod n^2
        self._crt_bases: tuple[mpz, mpz] | None = None  # h_s mod p^2 and mod q^2
        self._crt_tables: tuple[FixedBase, FixedBase] | None = None

    def _h(self, x: mpz, xsquare: mpz) -> mpz:
        g_pow = gmpy2.powmod(self.public_key.n + 1, x - 1, xsquare)
        return gmpy2.invert((g_pow - 1) // x, x)

    def __repr__(self) -> str:
        return f"PaillierPrivateKey(fingerprint={self.public_key.fingerprint})"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_crt_bases"] = state["_crt_tables"] = None
        return state

    @property
    def fingerprint(self) -> str:
        return self.public_key.fingerprint

    # -- decryption -------------------------------------------------------------------
    def raw_decrypt(self, c: int) -> mpz:
        return self.raw_decrypt_many([c])[0]

    def raw_decrypt_many(self, ciphertexts: Sequence[mpz]) -> list[mpz]:
        """Residues m in [0, n) (no overflow check; see PaillierPublicKey.decode_int).

        Refuses the whole batch, returning nothing, if any value is not a unit of Z*_{n^2}: whoever calls
        the key, no plaintext of a non-unit (which would factor n) ever leaves it. The check is free: by
        Fermat c^(p-1) = 1 mod p for a unit and 0 mod p for a multiple of p, and c^(p-1) mod p^2 is
        computed anyway.
        """
        p, q, psq, qsq, nsq = self.p, self.q, self.psquare, self.qsquare, self.public_key.nsquare
        for i, c in enumerate(ciphertexts):
            if not 0 < c < nsq:
                raise MalformedCiphertextError(self._refusal(i, len(ciphertexts), "is not in (0, n^2)"))
        cps = powmod_many([c % psq for c in ciphertexts], p - 1, psq)
        cqs = powmod_many([c % qsq for c in ciphertexts], q - 1, qsq)
        for i, (cp, cq) in enumerate(zip(cps, cqs, strict=True)):
            if cp % p != 1 or cq % q != 1:
                raise MalformedCiphertextError(self._refusal(i, len(ciphertexts), "is not a unit mod n^2"))
        hp, hq, p_inv = self.hp, self.hq, self.p_inverse
        out = []
        for cp, cq in zip(cps, cqs, strict=True):
            mp = (cp - 1) // p * hp % p
            mq = (cq - 1) // q * hq % q
            out.append(mp + (mq - mp) * p_inv % q * p)
        return out

    def _refusal(self, index: int, count: int, fault: str) -> str:
        return f"value {index} of {count} {fault} of key {self.fingerprint}: refused, none of the {count} decrypted"

    # -- owner encryption ----------------------------------------------------------------
    def _bases(self) -> tuple[mpz, mpz]:
        """h_s mod p^2 and mod q^2, raised with the same r the public path would use."""
        if self._crt_bases is None:
            with TABLE_LOCK:
                if self._crt_bases is None:
                    hs = self._owner_hs()
                    self._crt_bases = (hs % self.psquare, hs % self.qsquare)
        return self._crt_bases

    def _tables(self) -> tuple[FixedBase, FixedBase]:
        if self._crt_tables is None:
            with TABLE_LOCK:
                if self._crt_tables is None:
                    pub, (hp, hq) = self.public_key, self._bases()
                    self._crt_tables = (
                        FixedBase(hp, self.psquare, pub.obfuscator_bits, *pub.comb),
                        FixedBase(hq, self.qsquare, pub.obfuscator_bits, *pub.comb),
                    )
        return self._crt_tables

    def prepare(self, count: int) -> None:
        """Build the CRT combs now if ``count`` encryptions would use them (see PaillierPublicKey.prepare)."""
        if count >= TABLE_MIN_COUNT:
            self._tables()

    def _owner_hs(self) -> mpz:
        n = self.public_key.n
        while True:
            x = mpz(secrets.randbelow(int(n)))
            if x > 1 and gmpy2.gcd(x, n) == 1:
                h = n - x * x % n
                hp = gmpy2.powmod(h, n % (self.p * (self.p - 1)), self.psquare)
                hq = gmpy2.powmod(h, n % (self.q * (self.q - 1)), self.qsquare)
                return self._crt_nsquare(hp, hq)

    def _crt_nsquare(self, xp: mpz, xq: mpz) -> mpz:
        return xq + (xp - xq) * self.qsquare_inverse % self.psquare * self.qsquare

    def raw_encrypt(self, m: int) -> mpz:
        return self.raw_encrypt_many([m])[0]

    def raw_encrypt_many(self, plaintexts: Sequence[int]) -> list[mpz]:
        """Same ciphertext distribution as the public path, obfuscators computed mod p^2 and q^2 (about 2x faster)."""
        return self.public_key.encrypt_with(plaintexts, self.obfuscators(len(plaintexts)))

    def obfuscators(self, count: int) -> list[mpz]:
        """``count`` fresh h_s^r mod n^2 (encryptions of zero) by the CRT: one digit matrix on the p^2 and q^2 tables
        (a few without tables: two half-size powmods each)."""
        if self._crt_tables is None and count < TABLE_MIN_COUNT:
            (hp, hq), bits = self._bases(), self.public_key.obfuscator_bits
            rs = [secrets.randbits(bits) for _ in range(count)]
            return [self._crt_nsquare(gmpy2.powmod(hp, r, self.psquare), gmpy2.powmod(hq, r, self.qsquare)) for r in rs]
        table_p, table_q = self._tables()
        digits = table_p.random_digits(count)
        return [self._crt_nsquare(hp, hq) for hp, hq in zip(table_p.powers(digits), table_q.powers(digits), strict=True)]

    # -- serialisation and phe interop ----------------------------------------------------
    def to_bytes(self) -> bytes:
        """For the owner's own storage only: p and q in the clear, length-prefixed."""
        p, q = int_bytes(self.p), int_bytes(self.q)
        return _PRIVATE_MAGIC + len(p).to_bytes(4, "big") + p + q

    @classmethod
    def from_bytes(cls, data: bytes, *, allow_insecure_key_length: bool = False) -> PaillierPrivateKey:
        head = len(_PRIVATE_MAGIC)
        if not data.startswith(_PRIVATE_MAGIC) or len(data) < head + 4:
            raise CryptoError("bytes are not a serialised Paillier private key (bad magic)")
        p_len = int.from_bytes(data[head : head + 4], "big")
        p = int.from_bytes(data[head + 4 : head + 4 + p_len], "big")
        q = int.from_bytes(data[head + 4 + p_len :], "big")
        if p < 3 or q < 3:
            raise CryptoError("serialised Paillier private key is truncated")
        public_key = PaillierPublicKey(p * q, allow_insecure_key_length=allow_insecure_key_length)
        return cls(public_key, p, q)

    def to_dict(self) -> dict[str, str]:
        return {"kind": "paillier-private", "p": format(self.p, "x"), "q": format(self.q, "x")}

    @classmethod
    def from_dict(cls, data: dict[str, str], *, allow_insecure_key_length: bool = False) -> PaillierPrivateKey:
        if data.get("kind") != "paillier-private" or "p" not in data or "q" not in data:
            raise CryptoError("dict is not a Paillier private key: needs kind='paillier-private', 'p', 'q'")
        p, q = int(data["p"], 16), int(data["q"], 16)
        return cls(PaillierPublicKey(p * q, allow_insecure_key_length=allow_insecure_key_length), p, q)

    def to_phe(self) -> Any:
        from phe import paillier

        return paillier.PaillierPrivateKey(self.public_key.to_phe(), int(self.p), int(self.q))

    @classmethod
    def from_phe(cls, phe_key: Any, *, allow_insecure_key_length: bool = False) -> PaillierPrivateKey:
        public_key = PaillierPublicKey(phe_key.public_key.n, allow_insecure_key_length=allow_insecure_key_length)
        return cls(public_key, phe_key.p, phe_key.q)
