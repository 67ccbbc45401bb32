"""The estimators' progress callback: when it is told, with which counters, and that it changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from airflow_provider_powerfl.algorithms.hetero_lr import HeteroLogisticRegression
from airflow_provider_powerfl.algorithms.progress import TrainingProgress
from airflow_provider_powerfl.algorithms.secureboost import HeteroSecureBoost
from airflow_provider_powerfl.federation.memory import memory_parties, run_parties

DATA = Path("/work/shared/datasets/fate")
GUEST, HOST = "10000", "20000"
ROLES = {GUEST: "guest", HOST: "host"}


def _breast() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    g = np.genfromtxt(DATA / "breast_hetero_guest.csv", delimiter=",", skip_header=1)
    h = np.genfromtxt(DATA / "breast_hetero_host.csv", delimiter=",", skip_header=1)
    return g[:, 2:], h[:, 1:], g[:, 1]


def _fit(make: Any, reports: dict[str, list[TrainingProgress]] | None, name: str) -> dict[str, Any]:
    Xg, Xh, y = _breast()
    parties = memory_parties(name, ROLES)
    columns = {GUEST: Xg, HOST: Xh}

    def fn(pid: str) -> Any:
        progress = None if reports is None else reports.setdefault(pid, []).append
        return lambda: make(parties[pid], progress).fit(columns[pid], y if pid == GUEST else None)

    out = run_parties({pid: fn(pid) for pid in columns})
    for value in out.values():
        if isinstance(value, BaseException):
            raise value
    return out


def _lr(party: Any, progress: Any) -> HeteroLogisticRegression:
    return HeteroLogisticRegression(party=party, key_length=512, max_iter=3, batch_size=128, alpha=1.0, random_state=7,
                                    epsilon=None, tol=0.0, progress=progress)  # fmt: skip


def test_hetero_lr_tells_every_batch_and_epoch_at_both_parties() -> None:
    reports: dict[str, list[TrainingProgress]] = {}
    models = _fit(_lr, reports, "progress-lr")
    batches = 569 // 128  # near-equal splits of at least batch_size rows: 4
    expected = [(0, 0)] + [(e + (b == 0), b) for e in range(3) for b in [*range(1, batches), 0]]
    for pid, told in reports.items():
        assert [(p.done, p.step) for p in told] == expected, pid
        assert {(p.unit, p.total, p.steps) for p in told} == {("epoch", 3, batches)}
        fractions = [p.fraction for p in told]
        assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(set(fractions))
        epoch_losses = [p.loss for p in told if p.step == 0 and p.done > 0]
        assert epoch_losses == models[GUEST].loss_history_  # the host's are the ones the guest tells it
        assert [p.loss for p in told if p.done == 0] == [None] * batches  # no loss before the first epoch ends
    plain = _fit(_lr, None, "progress-lr-plain")  # the callback changes nothing
    for pid in ROLES:
        np.testing.assert_allclose(models[pid].coef_, plain[pid].coef_, rtol=0, atol=1e-12)
    assert models[GUEST].loss_history_ == plain[GUEST].loss_history_
    assert "progress" not in models[GUEST].to_dict()["params"]


def _sbt(party: Any, progress: Any) -> HeteroSecureBoost:
    return HeteroSecureBoost(party=party, key_length=512, n_estimators=3, max_depth=2, max_bin=8, random_state=3,
                             timeout=60, progress=progress)  # fmt: skip


def test_secureboost_tells_every_tree_the_host_without_a_loss() -> None:
    reports: dict[str, list[TrainingProgress]] = {}
    models = _fit(_sbt, reports, "progress-sbt")
    for pid, told in reports.items():
        assert [(p.unit, p.done, p.total) for p in told] == [("tree", k, 3) for k in range(4)], pid
    guest_losses = [p.loss for p in reports[GUEST]]
    assert guest_losses[0] is None and all(isinstance(v, float) for v in guest_losses[1:])
    assert guest_losses[1:] == sorted(guest_losses[1:], reverse=True)  # the training loss falls tree by tree
    assert all(p.loss is None for p in reports[HOST])
    plain = _fit(_sbt, None, "progress-sbt-plain")
    assert models[GUEST].to_dict()["model"] == plain[GUEST].to_dict()["model"]
    assert "progress" not in models[HOST].to_dict()["params"]
