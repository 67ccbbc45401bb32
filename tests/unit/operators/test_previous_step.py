"""A try whose supervisor was killed (a scheduler's kill -9) leaves its step running with the peers: the next try
takes that step's result instead of starting a second step that the peers, done, no longer answer."""

from __future__ import annotations

import json
import os
import time
from types import SimpleNamespace

import pytest

from airflow_provider_powerfl.operators import step as step_module
from airflow_provider_powerfl.operators.step import FederatedStepOperator
from airflow_provider_powerfl.runtimes import local


@pytest.fixture
def operator(tmp_path, monkeypatch):
    monkeypatch.setattr(local, "RECORDS", tmp_path / "records")
    monkeypatch.setattr(step_module, "record_path", local.record_path)
    op = FederatedStepOperator(task_id="train", step="train")
    spec = SimpleNamespace(job_id="J", party_id="10000", role="guest", attempt=2, nonce="0f" * 16,
                           outputs=SimpleNamespace(dir=str(tmp_path / "out")))  # fmt: skip
    (tmp_path / "out").mkdir()
    return op, spec


def former_try(op, spec, exit_code, result: bool) -> None:
    """The record a former try left (its step's pid gone), and the result file its step wrote, if `result`."""
    record = op._record(spec)
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"pid": 2**22 + 7, "started": "1", "at": time.time() - 60, "exit": exit_code}))
    if result:
        (local.Path(spec.outputs.dir) / "result.json").write_text(json.dumps({"outputs": {"model": "m"}, "metrics": {}}))


@pytest.mark.parametrize("exit_code", [0, None])  # None: the supervisor died before the step ended
def test_the_next_try_takes_the_result_of_a_step_that_succeeded_unseen(operator, exit_code):
    op, spec = operator
    former_try(op, spec, exit_code, result=True)
    taken = op._finish_previous_step(spec, "step train")
    assert taken is not None and taken["outputs"] == {"model": "m"} and taken["attempt"] == 2


@pytest.mark.parametrize(("exit_code", "result"), [(1, True), (None, False), (0, False)])
def test_a_failed_or_resultless_former_step_is_run_anew(operator, exit_code, result):
    op, spec = operator
    former_try(op, spec, exit_code, result)
    assert op._finish_previous_step(spec, "step train") is None


def test_without_a_former_step_the_step_runs(operator):
    op, spec = operator
    assert op._finish_previous_step(spec, "step train") is None


def fail_a_try(op, spec, monkeypatch, exc: BaseException) -> list[str]:
    """Run a try whose launch raises `exc`; the statuses it told the peers."""
    told: list[str] = []
    monkeypatch.setattr(op, "_tell_peers", lambda registry, signer, spec, status, *rest, **kw: told.append(status))
    monkeypatch.setattr(op, "_finish_previous_step", lambda spec, what: None)
    monkeypatch.setattr(op, "launch", lambda *args: (_ for _ in ()).throw(exc))
    policy = SimpleNamespace(enforce=lambda spec, step: spec)
    jc = SimpleNamespace(party=SimpleNamespace(policy=policy), registry=None, signing_key=None)
    with pytest.raises(type(exc)):
        op._run_step({}, jc, spec, "local")
    return told


def test_a_try_failing_while_its_step_still_runs_keeps_the_record_and_tells_no_peer(operator, monkeypatch):
    # tests/faults' scheduler kill: the try's log channel to its dead supervisor broke under it (BrokenPipeError),
    # its step (own process group) went on with the peers; the next try must wait for that step, not start another
    op, spec = operator
    record = op._record(spec)
    record.parent.mkdir(parents=True)
    local.write_record(record, os.getpid())  # a live process: the step still running
    assert fail_a_try(op, spec, monkeypatch, BrokenPipeError(32, "Broken pipe")) == ["running"]
    assert record.exists()


def test_a_try_failing_after_its_step_ended_drops_the_record_and_tells_the_peers(operator, monkeypatch):
    op, spec = operator
    former_try(op, spec, exit_code=None, result=False)  # the recorded pid is gone
    assert fail_a_try(op, spec, monkeypatch, KeyboardInterrupt()) == ["running", "failed"]
    assert not op._record(spec).exists()
