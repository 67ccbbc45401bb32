"""Training progress from the step to the API: the step's pacing and ETA, the signed report, the API's shape."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from airflow_provider_powerfl.algorithms.progress import TrainingProgress
from airflow_provider_powerfl.federation import codec
from airflow_provider_powerfl.federation.envelope import open_envelope, seal
from airflow_provider_powerfl.federation.errors import MalformedMessage
from airflow_provider_powerfl.federation.events import latest
from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.progress import (
    ProgressPublisher,
    ProgressReport,
    open_report,
    read_progress,
    seal_report,
)
from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.jobs.spec import TaskSpec
from airflow_provider_powerfl.plugins.flow_server.progress import add_progress, progress_view
from airflow_provider_powerfl.plugins.flow_server.views import progress, summary
from spark_jobs.common.progress import BackgroundSender, StepProgress

GUEST, HOST = "10000", "20000"
NONCE = bytes(range(16))
KEYS = {GUEST: SigningKey.generate(), HOST: SigningKey.generate()}
REGISTRY = PartyRegistry.from_dict({"parties": {
    pid: {"role": role, "bootstrap_servers": ["127.0.0.1:1"], "public_key": KEYS[pid].public_key.pem()}
    for pid, role in ((GUEST, "guest"), (HOST, "host"))
}})  # fmt: skip
API_KEYS = {"unit", "done", "of", "step", "steps", "fraction", "loss", "eta_s", "elapsed_s", "updated_at"}


def _spec() -> TaskSpec:
    return TaskSpec.from_dict({
        "job_id": "job", "attempt": 2, "party_id": GUEST, "private_key": "/nowhere", "nonce": NONCE.hex(),
        "parties": [{"id": GUEST, "role": "guest", "bootstrap_servers": ["b:1"], "public_key": KEYS[GUEST].public_key.pem()},
                    {"id": HOST, "role": "host", "bootstrap_servers": ["b:2"], "public_key": KEYS[HOST].public_key.pem()}],
        "outputs": {"dir": "/tmp/out"}, "task_id": "train_lr",
    })  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_step_passes_every_unit_on_and_parts_at_most_once_a_second_with_an_eta() -> None:
    sent: list[ProgressReport] = []
    clock = Clock()
    callback = StepProgress(_spec(), "train", sent.append, min_interval=1.0, clock=clock, wall=lambda: 5e9)
    callback(TrainingProgress("epoch", 0, 4, 0, 4))  # the start
    for epoch in range(2):
        for batch in (1, 2, 3):
            clock.now += 0.4  # batches every 0.4 s: one in three parts gets through
            callback(TrainingProgress("epoch", epoch, 4, batch, 4, 0.5 if epoch else None))
        clock.now += 0.4
        callback(TrainingProgress("epoch", epoch + 1, 4, 0, 4, 0.6 - 0.1 * epoch))  # every epoch end
    assert [(r.done, r.step) for r in sent] == [(0, 0), (0, 3), (1, 0), (1, 3), (2, 0)]
    assert {(r.job_id, r.party_id, r.task, r.attempt, r.unit, r.of) for r in sent} == {("job", GUEST, "train_lr", 2, "epoch", 4)}
    assert sent[0].eta_s is None and sent[0].elapsed_s == 0.0
    half = sent[-1]  # 2 of 4 epochs in 3.2 s: 3.2 s left
    assert half.elapsed_s == pytest.approx(3.2) and half.eta_s == pytest.approx(3.2) and half.loss == pytest.approx(0.5)
    assert sent[1].eta_s == pytest.approx(1.2 * (1 - 3 / 16) / (3 / 16))


def test_the_background_sender_sends_the_newest_and_the_last() -> None:
    sent: list[ProgressReport] = []
    sender = BackgroundSender(sent.append)
    reports = [ProgressReport("job", GUEST, "train", 1, "tree", k, 5) for k in range(6)]
    for report in reports:
        sender(report)
    sender.close()
    assert sent and sent[-1] == reports[-1] and [r.done for r in sent] == sorted(r.done for r in sent)


def _report(**changes: object) -> ProgressReport:
    base = ProgressReport("job", GUEST, "train", 1, "epoch", 3, 10, 1, 4, 0.25, 42.0, 30.0, 1_000_000.0)
    return replace(base, **changes)


def test_a_report_is_signed_for_the_run_and_only_its_own_party_gets_the_loss() -> None:
    report = _report()
    mine = open_report(seal_report(report, GUEST, KEYS[GUEST], NONCE), REGISTRY, GUEST, "job", NONCE, now=1_000_001.0)
    assert mine == report
    peer = open_report(seal_report(report, HOST, KEYS[GUEST], NONCE), REGISTRY, HOST, "job", NONCE, now=1_000_001.0)
    assert peer.loss is None and peer.done == 3 and peer.eta_s == 42.0
    with pytest.raises(MalformedMessage, match="bad signature"):
        open_report(seal_report(report, GUEST, KEYS[HOST], NONCE), REGISTRY, GUEST, "job", NONCE, now=1_000_001.0)
    with pytest.raises(MalformedMessage, match="another run"):
        open_report(seal_report(report, GUEST, KEYS[GUEST], NONCE), REGISTRY, GUEST, "job", bytes(16), now=1_000_001.0)
    with pytest.raises(MalformedMessage, match="party '20000'"):  # to another party
        open_report(seal_report(report, HOST, KEYS[GUEST], NONCE), REGISTRY, GUEST, "job", NONCE, now=1_000_001.0)


@pytest.mark.parametrize("change", [{"unit": "row"}, {"done": -1}, {"loss": float("nan")}, {"eta_s": -1.0},
                                    {"rows": [1, 2]}, {"done": True}])  # fmt: skip
def test_a_malformed_report_is_dropped(change: dict[str, object]) -> None:
    wire = seal_report(_report(), GUEST, KEYS[GUEST], NONCE)
    envelope = open_envelope(wire)
    body = {**codec.decode(envelope.payload), **change}
    payload = codec.encode_bytes(body)
    forged = seal(replace(envelope.header, total_size=len(payload)), [payload], KEYS[GUEST])
    with pytest.raises(MalformedMessage, match="malformed"):
        open_report(forged, REGISTRY, GUEST, "job", NONCE, now=1_000_001.0)


def test_the_api_shows_the_newest_report_of_a_running_steps_try() -> None:
    reports = latest([_report(done=2, timestamp=999_990.0), _report(), _report(party_id=HOST, loss=None),
                              _report(task="predict", attempt=1)])  # fmt: skip
    view = progress_view(reports[(GUEST, "train")], 1, now=1_000_010.0)
    assert set(view) == API_KEYS
    assert (view["unit"], view["done"], view["of"], view["loss"]) == ("epoch", 3, 10, 0.25)
    assert view["eta_s"] == 32.0 and view["fraction"] == pytest.approx(3.25 / 10)  # the ETA counts down since it was sent
    assert view["updated_at"] == "1970-01-12T13:46:40Z"
    assert progress_view(reports[(GUEST, "train")], 2) is None  # another try's report
    parties = {
        GUEST: {"steps": {"train": {"state": "running", "try_number": 1, "progress": None},
                          "predict": {"state": "success", "try_number": 1, "progress": None}}},
        HOST: {"steps": {"train": {"state": "running", "try_number": 1, "progress": None}}},
    }  # fmt: skip
    add_progress(parties, reports)
    assert parties[GUEST]["steps"]["train"]["progress"]["done"] == 3
    assert parties[GUEST]["steps"]["predict"]["progress"] is None  # not running
    assert parties[HOST]["steps"]["train"]["progress"]["loss"] is None


def test_a_failed_run_shows_the_steps_that_finished_not_100_percent() -> None:
    tis = [{"task_id": t, "state": s} for t, s in
           [("align", "success"), ("train", "failed"), ("predict", "upstream_failed"), ("summary", "upstream_failed")]]  # fmt: skip
    assert progress(tis) == 0.25
    run = {"dag_run_id": "j", "dag_id": "p", "state": "failed", "conf": {"parties": [f"{GUEST}=guest"]}}
    assert summary(run, tis, GUEST)["progress"] == 0.25
    assert progress([{"state": "success"}, {"state": "skipped"}]) == 1.0


def test_reports_travel_through_the_real_brokers(kafka_brokers: dict[str, str]) -> None:
    """A step's publisher posts to its own broker and the peer's; each party reads the newest, the peer without loss."""
    registry = PartyRegistry.from_dict({"parties": {
        pid: {"role": role, "bootstrap_servers": [kafka_brokers[role]], "public_key": KEYS[pid].public_key.pem()}
        for pid, role in ((GUEST, "guest"), (HOST, "host"))
    }})  # fmt: skip
    job_id = f"progress-{time.time_ns()}"
    publisher = ProgressPublisher(registry, KEYS[GUEST], GUEST, [HOST], job_id, NONCE)
    try:
        for done in range(3):
            publisher.publish(_report(job_id=job_id, done=done, timestamp=time.time()))
    finally:
        publisher.close()
    mine = read_progress(registry, GUEST, job_id, NONCE)
    assert list(mine) == [(GUEST, "train")] and mine[(GUEST, "train")].done == 2 and mine[(GUEST, "train")].loss == 0.25
    theirs = read_progress(registry, HOST, job_id, NONCE)[(GUEST, "train")]
    assert theirs.done == 2 and theirs.loss is None
    assert read_progress(registry, GUEST, job_id, bytes(16)) == {}  # another run's nonce: nothing
