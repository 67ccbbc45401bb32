"""The process-wide crypto thread pool: the same residues as one serial call, threads really used, errors raised."""

from __future__ import annotations

import os
import signal
import threading

import numpy as np
import pytest

from airflow_provider_powerfl.crypto import parallel
from airflow_provider_powerfl.crypto.errors import MalformedCiphertextError
from airflow_provider_powerfl.crypto.paillier import TABLE_MIN_COUNT
from airflow_provider_powerfl.crypto.paillier_private import generate_keypair
from airflow_provider_powerfl.crypto.vector import EncryptedVector
from airflow_provider_powerfl.exceptions import ConfigError


@pytest.fixture(scope="module")
def keys():
    return generate_keypair(1024, allow_insecure_key_length=True)  # SPEED: test-only key size


def test_threaded_decrypt_and_xt_dot_are_bit_identical_to_serial(keys):
    pk, sk = keys
    values = np.linspace(-5, 5, 37)
    vec = EncryptedVector.encrypt(sk, values, n_jobs=3)
    serial = vec.decrypt_ints(sk, n_jobs=1)
    assert vec.decrypt_ints(sk, n_jobs=2) == vec.decrypt_ints(sk, n_jobs=3) == serial
    np.testing.assert_allclose(vec.decrypt(sk), values, atol=2**-40)
    X = np.random.default_rng(0).normal(size=(37, 4))
    one = vec.xt_dot(X, n_jobs=1).ciphertexts.tolist()
    assert vec.xt_dot(X, n_jobs=2).ciphertexts.tolist() == one  # the same residues mod n^2, not just plaintexts
    assert vec.xt_dot(X, n_jobs=5).ciphertexts.tolist() == one
    np.testing.assert_allclose(vec.xt_dot(X).decrypt(sk), X.T @ values, atol=1e-3)  # X at 2^-16


def test_public_encryption_on_threads_decrypts(keys):
    pk, sk = keys
    values = list(range(-50, 50))
    cts = parallel.raw_encrypt(pk, [pk.encode_int(v) for v in values], n_jobs=2)
    assert [pk.decode_int(m) for m in sk.raw_decrypt_many(cts)] == values


def test_chunks_run_on_two_pool_threads_at_once():
    """Each chunk waits at a barrier for the other: they can only pass it running side by side."""
    barrier = threading.Barrier(2, timeout=30)
    names = parallel.map_chunks(lambda _: (barrier.wait(), threading.current_thread().name)[1], [0, 1], n_jobs=2)
    assert len(set(names)) == 2 and all(name.startswith("powerfl-crypto") for name in names)


def test_a_chunks_error_reaches_the_caller(keys):
    pk, sk = keys
    cts = pk.raw_encrypt_many([1, 2, 3, 4])
    with pytest.raises(MalformedCiphertextError):
        parallel.raw_decrypt(sk, [*cts, pk.n], n_jobs=2)  # the bad one lands in the second thread's chunk


def test_nested_calls_run_inline_and_limit_caps_threads():
    assert parallel.map_chunks(lambda _: parallel.threads(), [0, 1], n_jobs=2) == [1, 1]
    with parallel.limit(1):
        assert parallel.threads() == 1
        assert parallel.map_chunks(lambda _: threading.current_thread().name, [0, 1]) == [threading.current_thread().name] * 2
    with pytest.raises(ConfigError):
        parallel.map_chunks(len, [[0]], n_jobs=0)


def test_threads_setting(monkeypatch):
    monkeypatch.setenv(parallel.THREADS_ENV, "3")
    assert parallel.threads() == 3
    monkeypatch.setenv(parallel.THREADS_ENV, "many")
    with pytest.raises(ConfigError, match=parallel.THREADS_ENV):
        parallel.threads()


def test_split_covers_every_item_once():
    for count, parts in ((0, 2), (1, 4), (7, 2), (10, 3)):
        slices = parallel.split(count, parts)
        assert sum((list(range(count))[s] for s in slices), []) == list(range(count))
        assert len(slices) == max(1, min(parts, count))


def test_a_split_batch_builds_one_comb_first():
    pk, _ = generate_keypair(512, allow_insecure_key_length=True)  # SPEED
    parallel.raw_encrypt(pk, [0] * TABLE_MIN_COUNT, n_jobs=2)  # chunks of 32, each below TABLE_MIN_COUNT
    assert pk._hs_table is not None


def test_a_forked_child_starts_its_own_pool():
    parallel.map_chunks(len, [[0], [1]], n_jobs=2)  # the parent's pool exists
    pid = os.fork()
    if pid == 0:  # the child: a hang here would be the parent's dead pool (SIGALRM ends it)
        signal.alarm(30)
        os._exit(0 if parallel.map_chunks(len, [[0], [1, 2]], n_jobs=2) == [1, 2] else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_more_chunks_than_threads_use_only_the_threads_asked_for():
    parallel.pool(4)  # a larger pool, as an earlier n_jobs=4 call leaves it
    names = parallel.map_chunks(lambda _: threading.current_thread().name, list(range(9)), n_jobs=2)
    assert len(names) == 9 and len(set(names)) <= 2
    assert parallel.map_chunks(lambda v: v * v, list(range(9)), n_jobs=2) == [v * v for v in range(9)]
