"""Federated binning WOE/IV and IV selection over in-process parties (small Paillier key, set explicitly)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pytest

from airflow_provider_powerfl.algorithms.feature_engineering import (
    Binner,
    FeaturePipeline,
    HeteroFeatureBinning,
    HeteroIVSelector,
)
from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.federation import memory
from airflow_provider_powerfl.federation.memory import memory_parties

DATA = Path("/work/shared/datasets/fate")
GUEST, HOST, HOST2 = "10000", "20000", "30000"
KEY = 1024  # test-only key length, set explicitly
ROWS = 600


def run_parties(fns: Mapping[str, Callable[[], object]]) -> dict[str, object]:
    out = memory.run_parties(fns)
    for pid, value in out.items():
        if isinstance(value, BaseException):
            raise AssertionError(f"party {pid} failed") from value
    return out


@pytest.fixture(scope="module")
def credit() -> dict[str, np.ndarray]:
    guest = np.loadtxt(DATA / "default_credit_hetero_guest.csv", delimiter=",", skiprows=1, max_rows=ROWS)
    host = np.loadtxt(DATA / "default_credit_hetero_host.csv", delimiter=",", skiprows=1, max_rows=ROWS)
    assert np.array_equal(guest[:, 0], host[:, 0])  # same ids in the same order
    host_x = host[:, 1:].copy()
    host_x[::7, 2] = np.nan  # a host feature with missing values: they get a bin of their own
    return {"y": guest[:, 1], "guest": guest[:, 2:], "host": host_x}


def reference_woe_iv(
    column: np.ndarray, y: np.ndarray, binner: Binner, j: int, adjustment: float = 0.5
) -> tuple[np.ndarray, float]:
    """FATE's formula on the joined data, bin by bin, written out plainly."""
    n_bins = len(binner.edges_[j]) + 2
    bins = np.searchsorted(binner.edges_[j], column, side="left")
    bins[np.isnan(column)] = n_bins - 1
    total_e = max(float(y.sum()), 1.0)
    total_ne = max(float(len(y) - y.sum()), 1.0)
    woe = np.zeros(n_bins)
    iv = 0.0
    for b in range(n_bins):
        e = float(y[bins == b].sum())
        ne = float((bins == b).sum()) - e
        if e + ne == 0:
            continue
        a = adjustment if e == 0 or ne == 0 else 0.0
        er, ner = (e + a) / total_e, (ne + a) / total_ne
        woe[b] = math.log(er / ner)
        iv += (er - ner) * woe[b]
    return woe, iv


def fit_binning(parties, columns, y, **params) -> dict[str, HeteroFeatureBinning]:
    fns = {
        pid: (lambda pid=pid: HeteroFeatureBinning(party=parties[pid], key_length=KEY, **params).fit(
            columns[pid], y if parties[pid].role == "guest" else None))
        for pid in parties
    }  # fmt: skip
    return run_parties(fns)  # type: ignore[return-value]


@pytest.fixture(scope="module")
def two_party(credit):
    capture: list[bytes] = []
    parties = memory_parties("fe-two", {GUEST: "guest", HOST: "host"}, capture=capture)
    columns = {GUEST: credit["guest"], HOST: credit["host"]}
    models = fit_binning(parties, columns, credit["y"], n_bins=8)
    return {"parties": parties, "columns": columns, "models": models, "wire": capture}


def test_host_woe_iv_equal_the_plaintext_computation_on_joined_data(two_party, credit):
    models, y = two_party["models"], credit["y"]
    host, guest = models[HOST], models[GUEST]
    X = credit["host"]
    for j in range(X.shape[1]):
        woe, iv = reference_woe_iv(X[:, j], y, host.binner_, j)
        np.testing.assert_allclose(host.woe_[j], woe, rtol=1e-12, atol=1e-12)
        assert host.iv_[j] == pytest.approx(iv, rel=1e-12)
        assert guest.host_iv_[HOST][j] == pytest.approx(iv, rel=1e-12)
    # the missing bin is the last one and holds the rows with NaN
    assert host.binner_.transform(X)[::7, 2].tolist() == [len(host.binner_.edges_[2]) + 1] * len(X[::7])
    assert host.woe_[2][-1] != 0.0
    for j in range(credit["guest"].shape[1]):
        woe, iv = reference_woe_iv(credit["guest"][:, j], y, guest.binner_, j)
        np.testing.assert_allclose(guest.woe_[j], woe, atol=1e-12)
        assert guest.iv_[j] == pytest.approx(iv, rel=1e-12)


def test_guest_sees_per_bin_counts_of_host_features_only_in_shuffled_order(two_party, credit):
    host, guest = two_party["models"][HOST], two_party["models"][GUEST]
    bins = host.binner_.transform(credit["host"])
    y = credit["y"]
    for j in range(bins.shape[1]):
        n = len(host.woe_[j])
        true_events = sorted(np.bincount(bins[:, j], weights=y, minlength=n).astype(int).tolist())
        assert sorted(guest.host_event_counts_[HOST][j].tolist()) == true_events
        assert guest.host_event_counts_[HOST][j].sum() + guest.host_non_event_counts_[HOST][j].sum() == len(y)


def test_no_label_crosses_in_plaintext(two_party, credit):
    y = credit["y"]
    wire = b"".join(two_party["wire"])
    assert wire
    forms = [y.astype(dt).tobytes() for dt in (np.float64, np.int64, np.int32, np.bool_, np.uint8, np.float32)]
    forms += ["".join(str(int(v)) for v in y[:64]).encode(), bytes(int(v) for v in y[:64])]
    for form in forms:
        assert form not in wire
    # every message the guest sent to the host is a key, ciphertexts or the WOE/IV result
    guest_to_host = [m for m in two_party["wire"] if b"fe/woe/labels" in m]
    assert guest_to_host


def test_state_round_trip_gives_the_same_transforms(two_party, credit):
    for pid, model in two_party["models"].items():
        X = two_party["columns"][pid]
        again = HeteroFeatureBinning.from_dict(model.to_dict())
        np.testing.assert_array_equal(again.transform(X), model.transform(X))
        np.testing.assert_array_equal(again.woe_transform(X), model.woe_transform(X))
        assert again.iv_.tolist() == model.iv_.tolist()
    guest = HeteroFeatureBinning.from_dict(two_party["models"][GUEST].to_dict())
    assert guest.host_iv_[HOST].tolist() == two_party["models"][GUEST].host_iv_[HOST].tolist()


def iv_select(parties, binnings, **params) -> dict[str, HeteroIVSelector]:
    fns = {pid: (lambda pid=pid: HeteroIVSelector(party=parties[pid], **params).fit(binnings[pid])) for pid in parties}
    return run_parties(fns)  # type: ignore[return-value]


@pytest.mark.parametrize(
    "params, kept",
    [
        ({"method": "threshold", "threshold": 0.1}, lambda ivs: ivs >= 0.1),
        ({"method": "top_k", "k": 5}, lambda ivs: ivs >= np.sort(ivs)[-5]),
        ({"method": "percentile", "percentile": 0.3}, lambda ivs: ivs >= np.sort(ivs)[-math.ceil(0.3 * len(ivs))]),
    ],
)
def test_iv_selection_across_parties_each_party_gets_its_own_mask(credit, params, kept):
    parties = memory_parties(f"fe-select-{params['method']}", {GUEST: "guest", HOST: "host"})
    columns = {GUEST: credit["guest"], HOST: credit["host"]}
    binnings = fit_binning(parties, columns, credit["y"], n_bins=6, shuffle_bins=False)
    selectors = iv_select(parties, binnings, **params)
    ivs = np.r_[binnings[GUEST].iv_, binnings[HOST].iv_]
    expected = kept(ivs)
    n_guest = credit["guest"].shape[1]
    assert selectors[GUEST].support_.tolist() == expected[:n_guest].tolist()
    assert selectors[HOST].support_.tolist() == expected[n_guest:].tolist()
    assert 0 < expected.sum() < len(ivs)
    X = columns[HOST]
    again = HeteroIVSelector.from_dict(selectors[HOST].to_dict())
    np.testing.assert_array_equal(again.transform(X), X[:, expected[n_guest:]])


def test_three_parties_each_host_gets_its_own_woe(credit):
    parties = memory_parties("fe-three", {GUEST: "guest", HOST: "host", HOST2: "host"})
    columns = {GUEST: credit["guest"][:, :3], HOST: credit["host"][:, :4], HOST2: credit["host"][:, 4:]}
    models = fit_binning(parties, columns, credit["y"], method="bucket", n_bins=5)
    for pid in (HOST, HOST2):
        for j in range(columns[pid].shape[1]):
            woe, iv = reference_woe_iv(columns[pid][:, j], credit["y"], models[pid].binner_, j)
            np.testing.assert_allclose(models[pid].woe_[j], woe, atol=1e-12)
            assert models[GUEST].host_iv_[pid][j] == pytest.approx(iv, rel=1e-12)


@pytest.mark.parametrize(
    "param, value",
    [("method", "kmeans"), ("n_bins", 1), ("adjustment_factor", 0.0), ("key_length", 256), ("shuffle_bins", "yes")],
)
def test_bad_parameters_are_named_at_fit(credit, param, value):
    parties = memory_parties("fe-bad", {GUEST: "guest", HOST: "host"})
    model = HeteroFeatureBinning(party=parties[GUEST], **{"key_length": KEY, param: value})
    with pytest.raises(ConfigError, match=param):
        model.fit(credit["guest"], credit["y"])


def fit_pipelines(job: str, columns, y, names, **settings) -> dict[str, FeaturePipeline]:
    parties = memory_parties(job, {GUEST: "guest", HOST: "host"})
    fns = {
        pid: (
            lambda pid=pid: FeaturePipeline(party=parties[pid], **settings).fit(
                columns[pid], y if pid == GUEST else None, names[pid]
            )
        )
        for pid in parties
    }
    return run_parties(fns)  # type: ignore[return-value]


def assert_round_trip(pipelines, columns) -> None:
    for pid, pipe in pipelines.items():
        out = pipe.apply(columns[pid])
        again = FeaturePipeline.from_dict(json.loads(json.dumps(pipe.to_dict())))
        np.testing.assert_array_equal(again.apply(columns[pid]), out)
        assert out.shape == (ROWS, len(pipe.feature_names_out_))


@pytest.mark.parametrize("transform", ["woe", "bin", "standard", "minmax"])
def test_pipeline_fit_then_apply_from_state_gives_the_same_output(credit, transform):
    columns = {GUEST: credit["guest"], HOST: credit["host"]}
    names = {pid: [f"{pid}_x{j}" for j in range(columns[pid].shape[1])] for pid in columns}
    pipelines = fit_pipelines(
        f"fe-pipe-{transform}", columns, credit["y"], names,
        filter={"unique_min": 2}, binning={"n_bins": 5, "key_length": KEY}, select={"method": "top_k", "k": 8}, transform=transform,
    )  # fmt: skip
    assert sum(len(p.feature_names_out_) for p in pipelines.values()) == 8
    assert_round_trip(pipelines, columns)
    ivs = sorted([*pipelines[GUEST].binning_.iv_, *pipelines[HOST].binning_.iv_], reverse=True)
    for pipe in pipelines.values():
        report = pipe.report()
        assert [n for n, f in report["features"].items() if f["selected"]] == pipe.feature_names_out_
        assert all(report["features"][n]["iv"] >= ivs[7] for n in pipe.feature_names_out_)


def test_pipeline_one_hot_of_low_cardinality_columns(credit):
    columns = {GUEST: np.round(credit["guest"][:, :3]), HOST: np.round(credit["host"][:, :3])}
    names = {pid: ["a", "b", "c"] for pid in columns}
    pipelines = fit_pipelines(
        "fe-pipe-onehot", columns, credit["y"], names, transform="onehot", transform_options={"max_categories": 40}
    )
    assert_round_trip(pipelines, columns)
    assert pipelines[HOST].feature_names_out_[0].startswith("a_")


def test_pipeline_names_the_stage_of_a_bad_setting(credit):
    parties = memory_parties("fe-pipe-bad", {GUEST: "guest", HOST: "host"})
    with pytest.raises(ConfigError, match=r"params\.binning: n_bins"):
        FeaturePipeline(party=parties[GUEST], binning={"n_bins": 0}).fit(
            credit["guest"], credit["y"], [f"x{j}" for j in range(13)]
        )
    with pytest.raises(ConfigError, match=r"params\.binning: needed by params\.transform=woe"):
        FeaturePipeline(transform="woe").fit(credit["guest"], credit["y"], [f"x{j}" for j in range(13)])
    with pytest.raises(ConfigError, match=r"params\.select\.top"):
        FeaturePipeline(binning={}, select={"top": 3}).fit(credit["guest"], credit["y"], [f"x{j}" for j in range(13)])


def test_guest_can_return_ivs_only(credit):
    parties = memory_parties("fe-iv-only", {GUEST: "guest", HOST: "host"})
    columns = {GUEST: credit["guest"], HOST: credit["host"]}
    fns = {
        GUEST: lambda: HeteroFeatureBinning(party=parties[GUEST], key_length=KEY, n_bins=4, return_woe=False).fit(
            columns[GUEST], credit["y"]
        ),
        HOST: lambda: HeteroFeatureBinning(party=parties[HOST], key_length=KEY, n_bins=4).fit(columns[HOST]),
    }
    models = run_parties(fns)
    host = HeteroFeatureBinning.from_dict(models[HOST].to_dict())
    assert host.woe_ is None and host.iv_.tolist() == models[GUEST].host_iv_[HOST].tolist()
    with pytest.raises(ConfigError, match="return_woe"):
        host.woe_transform(columns[HOST])
