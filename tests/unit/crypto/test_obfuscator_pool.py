import time

import pytest

from airflow_provider_powerfl.algorithms import paillier_kernels as kernels
from airflow_provider_powerfl.crypto.errors import KeyMismatchError
from airflow_provider_powerfl.crypto.obfuscator_pool import ObfuscatorPool, ZeroPool
from airflow_provider_powerfl.crypto.paillier_private import generate_keypair


def test_pool_encrypts_with_fresh_obfuscators_and_refills() -> None:
    pk, sk = generate_keypair(512, allow_insecure_key_length=True)  # SPEED
    with ObfuscatorPool(sk, capacity=6) as pool:
        deadline = time.monotonic() + 30
        while len(pool._ready) < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
        residues = [pk.encode_int(v) for v in (5, 5, -3, 0, 2**40, 7, 8, 9)]
        cts = pool.encrypt(residues)
        assert len(cts) == 6  # only what was ready; the caller encrypts the rest
        assert [pk.decode_int(m) for m in sk.raw_decrypt_many(cts)] == [5, 5, -3, 0, 2**40, 7]
        assert len(set(cts)) == 6  # equal plaintexts, different randomness: nothing reused
        while len(pool._ready) < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
        again = pool.take(10)
        assert len(set(again)) == 6 and not set(again) & set(cts)  # fresh: none handed out before
    assert pool.take(3) == []  # closed: nothing left


def test_zero_pool_rerandomizes_with_values_made_ahead_then_makes_the_rest() -> None:
    pk, sk = generate_keypair(512, allow_insecure_key_length=True)  # SPEED
    cts = pk.raw_encrypt_many([3, 4, 5, 6])
    with ZeroPool(pk, capacity=2) as pool:
        deadline = time.monotonic() + 30
        while len(pool._ready) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        ready = list(pool._ready)
        out = pool.rerandomize(cts)  # two from the pool, two made now
    assert sk.raw_decrypt_many(out) == [3, 4, 5, 6]
    assert [c * z % pk.nsquare for c, z in zip(cts[:2], ready, strict=True)] == out[:2]
    assert all(sk.raw_decrypt(z) == 0 for z in ready)
    other, _ = generate_keypair(512, allow_insecure_key_length=True)  # SPEED
    with ZeroPool(other, capacity=1) as pool, pytest.raises(KeyMismatchError):
        kernels.rerandomize(pk, kernels.object_array(cts), pool)
