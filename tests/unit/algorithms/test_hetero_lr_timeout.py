"""A dead peer fails hetero LR with RecvTimeout naming peer, job and tag, instead of hanging."""

from __future__ import annotations

import numpy as np
import pytest

from airflow_provider_powerfl.algorithms.hetero_lr import HeteroLogisticRegression
from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.federation.errors import RecvTimeout
from airflow_provider_powerfl.federation.memory import memory_parties

GUEST, HOST = "10000", "20000"


def parties():
    return memory_parties("job-timeout", {GUEST: "guest", HOST: "host"})


def test_guest_times_out_when_the_host_never_answers():
    guest = parties()[GUEST]
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(128, 3)), np.r_[np.zeros(64), np.ones(64)]
    model = HeteroLogisticRegression(party=guest, key_length=1024, batch_size=64, min_batch_size=64, timeout=0.2)
    with pytest.raises(RecvTimeout) as info:
        model.fit(X, y)
    assert (info.value.src, info.value.job_id, info.value.tag) == (HOST, "job-timeout", "hetero_lr.hello")
    assert "party 10000 waited 0.2s for tag 'hetero_lr.hello' from party 20000 in job 'job-timeout'" in str(info.value)


def test_host_times_out_when_the_guest_never_starts():
    host = parties()[HOST]
    model = HeteroLogisticRegression(party=host, key_length=1024, timeout=0.2)
    with pytest.raises(RecvTimeout) as info:
        model.fit(np.ones((128, 2)))
    assert (info.value.src, info.value.tag) == (GUEST, "hetero_lr.setup")


def test_joint_prediction_times_out_at_the_guest():
    guest = parties()[GUEST]
    state = {
        "format": "powerfl.hetero_lr/1", "role": "guest", "coef": [0.5], "intercept": 0.1, "feature_names": None,
        "n_iter": 1, "loss_history": [0.6], "fixed_point": {"feature_frac_bits": [20]}, "params": {"timeout": 0.2},
    }  # fmt: skip
    model = HeteroLogisticRegression.from_dict(state, party=guest)
    with pytest.raises(RecvTimeout) as info:
        model.predict_proba(np.ones((4, 1)))
    assert info.value.tag == "hetero_lr.predict"


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), "10", True])
def test_timeout_must_be_positive_seconds_or_none(bad):
    model = HeteroLogisticRegression(party=parties()[GUEST], timeout=bad)
    with pytest.raises(ConfigError, match="timeout must be a finite number > 0"):
        model.fit(np.ones((128, 1)), np.r_[np.zeros(64), np.ones(64)])
