"""WOE and IV of one binned feature from per-bin event / non-event counts (plaintext maths).

As FATE's ``iv_calculator``: event_rate_i = e_i / E and non_event_rate_i = ne_i / NE with the
totals E, NE over the feature's bins (each at least 1); a bin holding only events or only
non-events uses (e_i + a) / E and (ne_i + a) / NE with the adjustment factor a (FATE's default
0.5); WOE_i = ln(event_rate_i / non_event_rate_i), IV = sum_i (event_rate_i - non_event_rate_i) WOE_i.
A bin with no rows at all (e.g. the missing bin of a feature without missing values) is left
out: WOE 0 (neutral at transform time) and no IV term, as FATE 1.x skips it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

DEFAULT_ADJUSTMENT_FACTOR = 0.5


def woe_iv(events: Any, non_events: Any, adjustment_factor: float = DEFAULT_ADJUSTMENT_FACTOR) -> tuple[np.ndarray, float]:
    """(WOE per bin, IV) of one feature from its per-bin counts."""
    e = np.asarray(events, dtype=np.float64)
    ne = np.asarray(non_events, dtype=np.float64)
    total_e = max(e.sum(), 1.0)
    total_ne = max(ne.sum(), 1.0)
    occupied = (e + ne) > 0
    adjust = occupied & ((e == 0) | (ne == 0))
    a = np.where(adjust, adjustment_factor, 0.0)
    event_rate = (e + a) / total_e
    non_event_rate = (ne + a) / total_ne
    woe = np.zeros_like(e)
    woe[occupied] = np.log(event_rate[occupied] / non_event_rate[occupied])
    iv = float(np.sum((event_rate - non_event_rate)[occupied] * woe[occupied]))
    return woe, iv


def bin_label_counts(bins: np.ndarray, y: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """(events, non-events) per bin of one binned column, for labels y in {0, 1}."""
    events = np.bincount(bins, weights=y, minlength=n_bins)[:n_bins]
    totals = np.bincount(bins, minlength=n_bins)[:n_bins]
    return events.astype(np.int64), (totals - events).astype(np.int64)
