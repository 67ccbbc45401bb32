"""RSA blind signatures: the oblivious PRF of FATE's RSA-PSI and of the joint query.

The signer holds (n, d); a requester learns F(x) = H'(FDH(x)^d mod n) for its
own x without showing x: it sends FDH(x) * r^e, gets back FDH(x)^d * r and
divides r out. FDH expands a 32-byte digest to the size of n (SHAKE-256), so
the signed value is a full-domain hash, not a 256-bit number. The signer's modulus has
three primes and it signs by CRT (see RsaSigningKey).

The requester trusts nothing the signer sends: e must be 65537, the modulus at least 2048
bits, a key proof shows gcd(e, phi(n)) = 1 (else r^e ranges over a subgroup and x * r^e
gives the signer a fingerprint of x: see key_proof), and every signature is checked,
s^e == x * r^e mod n, before it is used.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import gmpy2
import numpy as np

from airflow_provider_powerfl.crypto.powmod import powmod_many
from airflow_provider_powerfl.exceptions import CryptoError

DEFAULT_KEY_BITS = 2048  # also the floor on a peer's modulus: RsaPublicKey.check never accepts less
MAX_KEY_BITS = 8192  # a peer's larger modulus is refused: it would only make every FDH and check slow
PRIMES = 3  # multi-prime RSA, RFC 8017 section 3: see RsaSigningKey
PUBLIC_EXPONENT = 65537
TOKEN_BYTES = 32
KEY_PROOF_ROUNDS = 8  # a key with e | phi(n) passes each round with probability <= 1/65537: 8 rounds < 2^-128
_FDH_DOMAIN = b"powerfl/rsa-fdh/v1\x00"
_TOKEN_DOMAIN = b"powerfl/rsa-token/v1\x00"
_PROOF_DOMAIN = b"powerfl/rsa-key-proof/v1\x00"


@dataclass(frozen=True)
class RsaPublicKey:
    """What the requester needs: modulus and public exponent."""

    n: int
    e: int = PUBLIC_EXPONENT

    @property
    def byte_length(self) -> int:
        return (self.n.bit_length() + 7) // 8

    def check(self, min_bits: int = DEFAULT_KEY_BITS) -> None:
        """Refuse an exponent other than 65537 and a modulus that is even, over 8192 or below max(min_bits, 2048) bits.

        e is pinned so that the key proof (key_proof) is sound and no signer picks an e that
        divides phi(n); ``min_bits`` can only raise the 2048-bit floor, never lower it.
        """
        if self.e != PUBLIC_EXPONENT:
            raise CryptoError(f"RSA public exponent {self.e} refused: only {PUBLIC_EXPONENT} is accepted")
        floor = max(min_bits, DEFAULT_KEY_BITS)
        if self.n < 0 or not floor <= self.n.bit_length() <= MAX_KEY_BITS or self.n % 2 == 0:
            raise CryptoError(f"RSA modulus of {self.n.bit_length()} bits refused (need odd, {floor} to {MAX_KEY_BITS} bits)")


@dataclass(frozen=True)
class RsaSigningKey:
    """The signer's primes; plain ints so the key pickles into worker processes.

    Multi-prime RSA (RFC 8017 section 3): a 2048-bit modulus of three ~683-bit primes signs by
    CRT with three short exponentiations instead of two ~1024-bit ones, 2.1x faster with gmpy2
    (measured side by side), and the host of an RSA-PSI signs every id of both parties.
    Factoring still means factoring the 2048-bit modulus: the one method that gains from
    smaller factors, ECM, has found factors of ~270 bits, far below 683; three primes is the
    most recommended for 2048 bits (Hinek, "On the security of multi-prime RSA", 2008).
    """

    primes: tuple[int, ...]
    e: int = PUBLIC_EXPONENT

    @classmethod
    def generate(cls, bits: int = DEFAULT_KEY_BITS, primes: int = PRIMES) -> RsaSigningKey:
        sizes = [bits // primes + (i < bits % primes) for i in range(primes)]
        while True:
            factors = [_prime(size) for size in sizes]
            if math.prod(factors).bit_length() == bits and len(set(factors)) == primes:
                return cls(primes=tuple(factors), e=PUBLIC_EXPONENT)

    @property
    def public_key(self) -> RsaPublicKey:
        return RsaPublicKey(n=math.prod(self.primes), e=self.e)


def _prime(bits: int) -> int:
    """A random prime of exactly ``bits`` bits (top two set) with gcd(e, p - 1) = 1."""
    while True:
        p = gmpy2.next_prime(gmpy2.mpz(secrets.randbits(bits)) | (3 << (bits - 2)))
        if p.bit_length() == bits and gmpy2.gcd(PUBLIC_EXPONENT, p - 1) == 1:
            return int(p)


def sign(key: RsaSigningKey, values: Sequence[int]) -> list[int]:
    """x^d mod n for each x, by CRT over the key's primes; a top-level function so process pools can run it.

    The powers mod each prime are one native call (crypto/_powmod.c: this CPU's GMP, no GIL), the
    recombination here.
    """
    primes = [gmpy2.mpz(p) for p in key.primes]
    n = gmpy2.mpz(key.public_key.n)
    xs = [gmpy2.mpz(x) for x in values]
    if any(not 0 < x < n for x in xs):
        raise CryptoError("RSA value to sign is outside (0, n)")
    # x = sum_i x_i (n/p_i) ((n/p_i)^-1 mod p_i) mod n
    parts = [powmod_many([x % p for x in xs], gmpy2.invert(key.e, p - 1), p) for p in primes]
    coefficients = [(n // p) * gmpy2.invert(n // p, p) for p in primes]
    return [int(sum(r * c for r, c in zip(rs, coefficients, strict=True)) % n) for rs in zip(*parts, strict=True)]


def key_proof(key: RsaSigningKey) -> list[int]:
    """Signatures of KEY_PROOF_ROUNDS challenges derived from n: proof that gcd(e, phi(n)) = 1.

    If e divided phi(n), only 1 in e units would have an e-th root, and blinding would leak:
    x * r^e raised to (p - 1) / e mod a prime p = 1 mod e is x^((p-1)/e), a 16-bit fingerprint
    of x per such prime. Challenges come from a hash of n, so the signer cannot pick them
    (Goldberg, Reyzin, Sagga, Baldimtsi, "Efficient noninteractive certification of RSA
    moduli and beyond", 2019).
    """
    return sign(key, _proof_challenges(key.public_key))


def check_key_proof(public: RsaPublicKey, proof: Sequence[int]) -> None:
    """Refuse a key whose proof (key_proof) does not verify."""
    challenges = _proof_challenges(public)
    if any(gmpy2.gcd(c, public.n) != 1 for c in challenges):
        raise CryptoError("RSA key proof refused: a challenge shares a factor with the modulus")
    if len(proof) != len(challenges) or not verify(proof, challenges, public):
        raise CryptoError(f"RSA key proof refused: the {KEY_PROOF_ROUNDS} challenge signatures do not verify")


def _proof_challenges(public: RsaPublicKey) -> list[int]:
    width = public.byte_length + 16
    seed = _PROOF_DOMAIN + public.n.to_bytes(public.byte_length, "big")
    return [
        int.from_bytes(hashlib.shake_256(seed + i.to_bytes(4, "big")).digest(width), "big") % public.n
        for i in range(KEY_PROOF_ROUNDS)
    ]


def full_domain_hash(digests: np.ndarray, public: RsaPublicKey) -> list[int]:
    """Expand each 32-byte digest (rows of an (m, 32) uint8 array) to an integer in [1, n)."""
    width = public.byte_length + 16  # 128 extra bits make the reduction mod n unbiased enough
    out = []
    for row in np.ascontiguousarray(digests, dtype=np.uint8):
        value = int.from_bytes(hashlib.shake_256(_FDH_DOMAIN + row.tobytes()).digest(width), "big") % public.n
        out.append(value or 1)
    return out


def blind(values: Sequence[int], public: RsaPublicKey) -> tuple[list[int], list[int]]:
    """Blind each x as x * r^e mod n; returns the blinded values and the r^-1 to unblind with.

    An x that shares a factor with n is refused: x * r^e would show the signer that factor of x
    (impossible with an honest modulus, whose factors nobody but the signer knows).
    """
    n, e = gmpy2.mpz(public.n), gmpy2.mpz(public.e)
    blinded, r_inverses = [], []
    for x in values:
        if gmpy2.gcd(x, n) != 1:
            raise CryptoError("a value to blind shares a factor with the RSA modulus: not an honest key")
        while True:
            r = gmpy2.mpz(secrets.randbelow(public.n - 2) + 2)
            try:
                r_inv = gmpy2.invert(r, n)
            except ZeroDivisionError:  # r shares a factor with n: astronomically unlikely
                continue
            break
        blinded.append(int((x * gmpy2.powmod(r, e, n)) % n))
        r_inverses.append(int(r_inv))
    return blinded, r_inverses


def unblind(signed: Sequence[int], r_inverses: Sequence[int], public: RsaPublicKey) -> list[int]:
    """Divide the blinding factor out of each signature: s * r^-1 = x^d mod n."""
    if len(signed) != len(r_inverses):
        raise CryptoError(f"got {len(signed)} signatures for {len(r_inverses)} blinded values")
    n = gmpy2.mpz(public.n)
    return [int((gmpy2.mpz(s) * r_inv) % n) for s, r_inv in zip(signed, r_inverses, strict=True)]


def verify(signatures: Sequence[int], values: Sequence[int], public: RsaPublicKey) -> bool:
    """True when there is one signature per value and every s^e == x mod n (the signer used the key it announced)."""
    n, e = gmpy2.mpz(public.n), gmpy2.mpz(public.e)
    return len(signatures) == len(values) and all(
        gmpy2.powmod(gmpy2.mpz(s), e, n) == x for s, x in zip(signatures, values, strict=True)
    )


def tokens(signatures: Sequence[int], public: RsaPublicKey) -> np.ndarray:
    """H'(s): a 32-byte token per signature, as an (m, 32) uint8 array; the only thing compared."""
    width = public.byte_length
    buf = b"".join(hashlib.sha256(_TOKEN_DOMAIN + int(s).to_bytes(width, "big")).digest() for s in signatures)
    return np.frombuffer(buf, dtype=np.uint8).reshape(-1, TOKEN_BYTES).copy()
