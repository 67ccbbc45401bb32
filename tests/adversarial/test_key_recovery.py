"""The key-recovery attack of issue 18: one crafted ciphertext (c = n) used to factor the key owner's modulus.

For c = n the CRT decryption returned (p + q)^-1 mod n, and gcd with n factored it. The key refuses
every non-unit of Z*_{n^2} inside its own decryption now, whoever calls it.
"""

from __future__ import annotations

import gmpy2
import pytest
from gmpy2 import mpz

from airflow_provider_powerfl.crypto.errors import MalformedCiphertextError
from airflow_provider_powerfl.crypto.paillier_private import generate_keypair

KEY = 512  # test-only key length, set explicitly: the attack does not depend on it


def crafted(public, private) -> dict[str, mpz]:
    """Every kind of non-unit or out-of-range value a peer could send instead of a ciphertext."""
    n, nsq, p, q = public.n, public.nsquare, private.p, private.q
    return {
        "0": mpz(0),
        "n": n,
        "2n": 2 * n,
        "p": p,
        "q": q,
        "p * 7": p * 7,
        "p^2": p * p,
        "q * unit": q * (n + 2) % nsq,
        "n^2": nsq,
        "n^2 + 1": nsq + 1,
        "-1": mpz(-1),
    }


@pytest.mark.parametrize("attempt", range(10))
def test_c_equal_n_no_longer_factors_the_key(attempt):
    public, private = generate_keypair(KEY, allow_insecure_key_length=True)
    with pytest.raises(MalformedCiphertextError, match=f"not a unit mod n\\^2 of key {public.fingerprint}"):
        private.raw_decrypt_many([public.raw_encrypt(5), public.n])


def test_the_attack_worked_on_the_old_decryption():
    """The attack itself, on the CRT formula without the check: proof that the test above tests something."""
    public, private = generate_keypair(KEY, allow_insecure_key_length=True)
    p, q, n = private.p, private.q, public.n
    cp = gmpy2.powmod(n % private.psquare, p - 1, private.psquare)
    cq = gmpy2.powmod(n % private.qsquare, q - 1, private.qsquare)
    mp, mq = (cp - 1) // p * private.hp % p, (cq - 1) // q * private.hq % q
    m = mp + (mq - mp) * private.p_inverse % q * p
    inverse = gmpy2.invert(m, n)  # p + q
    disc = inverse * inverse - 4 * n  # (p - q)^2
    root = gmpy2.isqrt(disc)
    assert root * root == disc and {(inverse - root) // 2, (inverse + root) // 2} == {p, q}


def test_every_non_unit_is_refused_by_the_key_and_by_the_public_check():
    public, private = generate_keypair(KEY, allow_insecure_key_length=True)
    good = public.raw_encrypt(42)
    for name, value in crafted(public, private).items():
        with pytest.raises(MalformedCiphertextError, match=public.fingerprint):
            private.raw_decrypt_many([good, value])
        with pytest.raises(MalformedCiphertextError, match=f"value 1 of 2 .*{public.fingerprint}"):
            public.check_ciphertexts([good, value], f"crafted {name}")
    assert private.raw_decrypt_many([good]) == [42]
    assert public.check_ciphertexts([good], "valid") == [good]


def test_non_integers_are_refused():
    public, _ = generate_keypair(KEY, allow_insecure_key_length=True)
    for value in (1.5, "7", None, True, b"\x01"):
        with pytest.raises(MalformedCiphertextError, match="not an integer"):
            public.check_ciphertexts([value], "crafted")
