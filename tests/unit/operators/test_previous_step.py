"""A try whose supervisor was killed (a scheduler's kill -9) leaves its step running with the peers: the next try
takes that step's result instead of starting a second step that the peers, done, no longer answer."""

from __future__ import annotations

import json
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
