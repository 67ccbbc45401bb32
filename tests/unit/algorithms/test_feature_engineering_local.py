"""Local feature-engineering transforms: binning, scaling, one-hot, statistics selection, state round trips."""

from __future__ import annotations

import numpy as np
import pytest

from airflow_provider_powerfl.algorithms.feature_engineering import (
    Binner,
    MinMaxScaler,
    OneHotEncoder,
    StandardScaler,
    StatisticSelector,
    feature_statistics,
    woe_iv,
)
from airflow_provider_powerfl.exceptions import ConfigError, DataError

RNG = np.random.default_rng(7)
X = np.column_stack(
    [RNG.normal(size=200), RNG.integers(0, 4, size=200).astype(float), np.r_[np.full(150, 2.0), np.full(50, np.nan)]]
)


def test_quantile_binning_gives_near_equal_bins_and_a_missing_bin():
    binner = Binner(method="quantile", n_bins=4).fit(X)
    bins = binner.transform(X)
    assert np.bincount(bins[:, 0]).tolist() == [50, 50, 50, 50, 0][: bins[:, 0].max() + 1]
    # col 0: 4 value bins + missing; col 1 (values 0..3): the 75% quantile is the maximum, 3 bins; col 2 constant
    assert binner.bin_counts().tolist() == [5, 4, 2]
    assert set(bins[:150, 2]) == {0} and set(bins[150:, 2]) == {1}  # NaN -> its own, last bin


def test_bucket_binning_uses_equal_width_and_values_on_an_edge_go_left():
    col = np.array([[0.0], [2.5], [2.50001], [10.0], [-3.0], [99.0]])
    binner = Binner(method="bucket", n_bins=4).fit(col[:4])
    assert binner.edges_[0].tolist() == [2.5, 5.0, 7.5]
    assert binner.transform(col)[:, 0].tolist() == [0, 0, 1, 3, 0, 3]


def test_binning_state_round_trip():
    binner = Binner(method="quantile", n_bins=6).fit(X)
    again = Binner.from_dict(binner.to_dict())
    np.testing.assert_array_equal(again.transform(X), binner.transform(X))
    with pytest.raises(DataError, match="format"):
        Binner.from_dict({"format": "other"})


def test_woe_iv_applies_the_adjustment_to_one_sided_bins_and_skips_empty_ones():
    woe, iv = woe_iv([10, 0, 5, 0], [20, 30, 5, 0], adjustment_factor=0.5)
    e, ne = 15.0, 55.0
    expected = [np.log((10 / e) / (20 / ne)), np.log((0.5 / e) / (30.5 / ne)), np.log((5 / e) / (5 / ne)), 0.0]
    np.testing.assert_allclose(woe, expected)
    rates = [(10 / e, 20 / ne), (0.5 / e, 30.5 / ne), (5 / e, 5 / ne)]
    assert iv == pytest.approx(
        sum((a - b) * w for (a, b), w in zip(rates, expected[:3], strict=True))
    )  # the empty bin adds nothing


@pytest.mark.parametrize("cls", [StandardScaler, MinMaxScaler, OneHotEncoder])
def test_scalers_round_trip_and_keep_missing(cls):
    data = X[:, 1:] if cls is OneHotEncoder else X
    fitted = cls().fit(data)
    again = cls.from_dict(fitted.to_dict())
    np.testing.assert_array_equal(again.transform(data), fitted.transform(data))


def test_standard_and_minmax_scaling_values():
    std = StandardScaler().fit(X).transform(X)
    np.testing.assert_allclose(std[:, 0].mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(std[:, 0].std(), 1.0)
    assert np.all(std[:150, 2] == 0.0) and np.isnan(std[150:, 2]).all()
    mm = MinMaxScaler().fit(X).transform(X)
    assert mm[:, 0].min() == 0.0 and mm[:, 0].max() == 1.0
    assert MinMaxScaler(clip=True).fit(X[:100]).transform(X)[:, 0].max() <= 1.0


def test_one_hot_columns_unseen_and_missing_values_are_all_zero():
    enc = OneHotEncoder().fit(X[:, 1:])
    out = enc.transform(np.array([[0.0, 2.0], [3.0, np.nan], [7.0, 2.0]]))
    assert enc.feature_names_out(["a", "b"]) == ["a_0", "a_1", "a_2", "a_3", "b_2"]
    assert out.tolist() == [[1, 0, 0, 0, 1], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1]]
    with pytest.raises(DataError, match="max_categories"):
        OneHotEncoder(max_categories=3).fit(X[:, :1])


def test_statistic_selection_by_missing_rate_variance_and_unique_values():
    assert StatisticSelector(missing_rate_max=0.2).fit(X).support_.tolist() == [True, True, False]
    assert StatisticSelector(variance_min=1e-9).fit(X).support_.tolist() == [True, True, False]
    assert StatisticSelector(unique_min=5).fit(X).support_.tolist() == [True, False, False]
    sel = StatisticSelector(unique_min=2).fit(X)
    again = StatisticSelector.from_dict(sel.to_dict())
    np.testing.assert_array_equal(again.transform(X), X[:, :2])
    with pytest.raises(ConfigError, match="missing_rate_max"):
        StatisticSelector(missing_rate_max=1.5).fit(X)


def test_feature_statistics():
    stats = feature_statistics(X, ["a", "b", "c"])
    assert stats["c"]["missing_rate"] == 0.25 and stats["c"]["unique"] == 1 and stats["c"]["variance"] == 0.0
    assert stats["b"]["unique"] == 4 and stats["a"]["count"] == 200
    assert stats["a"]["mean"] == pytest.approx(X[:, 0].mean())
