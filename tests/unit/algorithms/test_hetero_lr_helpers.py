"""The helpers under hetero LR: chunked Paillier kernels, masks, local updates."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from airflow_provider_powerfl.algorithms import fixed_point as fp, masking, paillier_kernels as pk
from airflow_provider_powerfl.algorithms.hetero_lr.protocol import BatchPlan, new_keypair
from airflow_provider_powerfl.algorithms.optimizers import LocalUpdate
from airflow_provider_powerfl.exceptions import ConfigError, DataError, FederationError


@pytest.fixture(scope="module")
def keys():
    return new_keypair(1024)


def test_chunked_kernels_through_an_executor_match_in_process(keys, monkeypatch):
    public, private = keys
    monkeypatch.setattr(pk, "CHUNK_ROWS", 7)
    values = list(range(-20, 20))
    X = np.random.default_rng(1).normal(size=(40, 3))
    exps = fp.encode_columns(X, fp.column_frac_bits(X))
    with ThreadPoolExecutor(2) as pool:
        chunked = pk.Kernels(pool)
        cts = chunked.encrypt(private, values)
        assert chunked.decrypt(private, cts) == values
        sums = chunked.xt_dot(public, cts, exps)
    assert pk.Kernels().decrypt(private, sums) == (exps.T @ np.array(values)).tolist()


def test_thread_chunk_map_gives_each_thread_one_chunk_and_the_kernels_match_in_process(keys, monkeypatch):
    public, private = keys
    threads = pk.ThreadChunkMap(2)
    seen: list[tuple[str, int]] = []
    real = pk._power_chunk

    def spy(args):
        seen.append((threading.current_thread().name, len(args[1])))
        return real(args)

    monkeypatch.setattr(pk, "_power_chunk", spy)
    values = list(range(-20, 21))
    X = np.random.default_rng(4).normal(size=(41, 3))
    exps = fp.encode_columns(X, fp.column_frac_bits(X))
    k = pk.Kernels(threads)
    cts = k.encrypt(private, values)
    assert k.decrypt(private, cts) == values
    assert pk.Kernels().decrypt(private, k.xt_dot(public, cts, exps)) == (exps.T @ np.array(values)).tolist()
    powered = k.power(public, cts, [3] * len(values))
    assert pk.Kernels().decrypt(private, powered) == [3 * v for v in values]
    assert sorted(size for _, size in seen) == [20, 21]  # one near-equal chunk per thread, not CHUNK_ROWS
    assert all(name.startswith("powerfl-crypto") for name, _ in seen)


def test_xt_dot_of_standardized_binary_columns_is_exact(keys):
    public, private = keys
    rng = np.random.default_rng(2)
    binary = (rng.random((60, 3)) < [0.1, 0.5, 0.9]).astype(float)
    X = np.hstack([(binary - binary.mean(0)) / binary.std(0), rng.normal(size=(60, 1))])
    exps = fp.encode_columns(X, fp.column_frac_bits(X))  # two values per binary column, both non-zero
    values = rng.integers(-(2**40), 2**40, 60).tolist()
    k = pk.Kernels()
    assert (
        k.decrypt(private, k.xt_dot(public, k.encrypt(public, values), exps))
        == (exps.T @ np.array(values, dtype=object)).tolist()
    )


@pytest.mark.parametrize("factor_bits", [16, 40])  # 40: f * x outgrows int64, the products travel in limbs
def test_scaled_xt_dot_folds_row_factors_into_the_exponents(keys, factor_bits):
    public, private = keys
    rng = np.random.default_rng(3)
    exps = np.c_[rng.integers(-(2**40), 2**40, (30, 2)), np.where(rng.random((30, 2)) < 0.8, 7, -3)]  # two 2-valued
    factors = [int(v) for v in rng.integers(1, 2**factor_bits, 30)]
    values = rng.integers(-(2**30), 2**30, 30).tolist()
    k = pk.Kernels()
    got = k.decrypt(private, k.scaled_xt_dot(public, k.encrypt(public, values), exps, factors))
    scaled = exps.astype(object) * np.array(factors, dtype=object)[:, np.newaxis]
    assert got == (scaled.T @ np.array(values, dtype=object)).tolist()


def test_add_plain_power_and_rerandomize(keys):
    public, private = keys
    k = pk.Kernels()
    cts = k.encrypt(public, [5, -7])
    assert k.decrypt(private, pk.add_plain(public, cts, [10, 3])) == [15, -4]
    assert k.decrypt(private, k.power(public, cts, [3, -2])) == [15, 14]
    fresh = pk.rerandomize(public, cts)
    assert list(fresh) != list(cts) and k.decrypt(private, fresh) == [5, -7]


def test_masked_sums_pack_into_few_plaintexts_and_unpack_exactly(keys):
    public, private = keys
    bound = 100
    per = masking.slots_per_plaintext(bound, public.n_bits)
    assert per == (1024 - 3) // (bound + masking.STATISTICAL_BITS + 1) == 4
    values = [2**bound - 1, -(2**bound) + 1, 0, 5, -7, 123456789, -1]
    k = pk.Kernels()
    packed, masks = masking.pack_masked(public, k.encrypt(public, values), bound)
    assert len(packed) == masking.packed_count(len(values), bound, public.n_bits) == 2
    plain = k.decrypt(private, packed)
    assert all(0 <= v < 2 ** (1024 - 3) for v in plain)  # what the key owner sees: masked slots, never negative
    assert masking.unpack(plain, masks, bound, public.n_bits, "20000") == values
    with pytest.raises(FederationError, match="20000"):
        masking.unpack(plain[:1], masks, bound, public.n_bits, "20000")
    masking.check_hidden(1024 - 3 - masking.STATISTICAL_BITS - 1, 1024, "x")
    with pytest.raises(ConfigError, match="key_length"):
        masking.check_hidden(1024 - 2 - masking.STATISTICAL_BITS - 1, 1024, "x")


def test_partial_scores_beyond_the_bound_are_refused():
    with pytest.raises(DataError, match="diverged"):
        fp.encode_quarter_u(np.array([0.0, 2.0 ** (fp.U_BOUND_BITS + 2)]), "20000")


@pytest.mark.parametrize(("e_bits", "top_bits"), [(1, 41), (20, 61)])  # int64 fits / a sum could reach 2^63
def test_column_sums_are_exact_on_both_paths(e_bits, top_bits):
    rng = np.random.default_rng(5)
    E = rng.integers(-(2**e_bits), 2**e_bits, size=(300, 4), dtype=np.int64)
    values = [int(v) for v in rng.integers(-(2**40), 2**40, size=300)]
    values[7] = (1 << top_bits) - 1
    expected = [sum(int(E[i, j]) * values[i] for i in range(300)) for j in range(4)]
    assert fp.column_sums(E, values) == expected
    assert all(type(v) is int for v in fp.column_sums(E, values))


def test_batch_plan_is_shared_and_batches_are_never_smaller_than_batch_size():
    plan = BatchPlan(1000, 300, 2, 0.0, 5, False)
    batches = plan.batches(0)
    assert [len(b) for b in batches] == [334, 333, 333] and plan.smallest_batch == 333
    assert np.array_equal(np.sort(np.concatenate(batches)), np.arange(1000))
    assert all(np.array_equal(a, b) for a, b in zip(batches, BatchPlan(1000, 300, 2, 0.0, 5, False).batches(0), strict=True))
    assert not np.array_equal(np.concatenate(plan.batches(1)), np.concatenate(batches))


def test_l1_is_proximal_under_sgd_and_the_intercept_is_not_penalised():
    update = LocalUpdate("sgd", 0.1, "l1", 1.0, np.array([1.0, 1.0, 0.0]))
    w = update.step(np.array([0.05, 0.5, 0.05]), np.zeros(3))
    np.testing.assert_allclose(w, [0.0, 0.4, 0.05])
    l2 = LocalUpdate("sgd", 0.1, "l2", 1.0, np.array([1.0, 0.0]))
    np.testing.assert_allclose(l2.step(np.array([1.0, 1.0]), np.zeros(2)), [0.9, 1.0])


@pytest.mark.parametrize("count", [1, 4, 8, 9])
def test_masked_sums_of_any_count_round_trip(keys, count):
    """Full groups, a short last group and a lone sum all come back exactly."""
    public, private = keys
    bound = 100
    values = [(-1) ** i * (i * 7919 + 3) for i in range(count)]
    k = pk.Kernels()
    packed, masks = masking.pack_masked(public, k.encrypt(public, values), bound)
    assert len(packed) == masking.packed_count(count, bound, public.n_bits)
    assert masking.unpack(k.decrypt(private, packed), masks, bound, public.n_bits, "20000") == values
