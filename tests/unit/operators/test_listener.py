"""The listener's tasks: ``listen`` hands accepted invitations to ``start``, a TriggerDagRunOperator that tells the initiator."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import DagRunTriggerException, TaskDeferred

from airflow_provider_powerfl.federation.envelope import new_nonce
from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.operators import listener
from airflow_provider_powerfl.operators.listener import InvitationListenerOperator, InvitedRunOperator, invited_run
from airflow_provider_powerfl.orchestration.invitation import Invitation, seal_invitation
from airflow_provider_powerfl.policy import PartyPolicy

GUEST, HOST = "10000", "20000"
NONCE = new_nonce().hex()
CONF = {"job_id": "job-i", "parties": [f"{GUEST}=guest", f"{HOST}=host"], "nonce": NONCE}


@pytest.fixture
def keys() -> dict[str, SigningKey]:
    return {GUEST: SigningKey.generate(), HOST: SigningKey.generate()}


@pytest.fixture
def host(keys, monkeypatch):
    """The host's party, registry and key as the listener reads them; its answers recorded instead of sent."""
    parties = {
        p: {"role": r, "bootstrap_servers": "127.0.0.1:1", "public_key": keys[p].public_key.pem()}
        for p, r in ((GUEST, "guest"), (HOST, "host"))
    }
    registry = PartyRegistry.from_dict({"parties": parties})
    party = SimpleNamespace(party_id=HOST, policy=PartyPolicy(allowed_parties=(GUEST,)))
    told: list[tuple] = []
    offsets: dict[str, str] = {}
    monkeypatch.setattr(listener, "_party_keys", lambda conn_id: (party, registry, keys[HOST]))
    monkeypatch.setattr(listener, "answer_invitation", lambda *args: told.append(args))
    monkeypatch.setattr(listener.Variable, "set", lambda key, value: offsets.__setitem__(key, value))
    monkeypatch.setattr(listener, "read_invitations", lambda *args: ([], 8))  # none waiting: listen defers
    return SimpleNamespace(told=told, offsets=offsets)


def wire(keys, conf=CONF, dag_id="pipe") -> str:
    import base64

    sealed = seal_invitation(Invitation(conf["job_id"], dag_id, conf, GUEST, HOST, time.time()), keys[GUEST])
    return base64.b64encode(sealed).decode("ascii")


def test_listen_ends_with_the_accepted_invitations_as_starts_arguments(keys, host):
    op = InvitationListenerOperator(task_id="listen", pipelines=["pipe"])
    event = {"status": "invitations", "messages": [{"offset": 7, "wire": wire(keys)}], "offset": 8}
    (run,) = op.execute_complete({}, event, deadline=time.time() + 60)
    assert run == {"dag_id": "pipe", "job_id": "job-i", "initiator": GUEST, "conf": {**CONF, "initiator": GUEST}}
    assert host.offsets == {f"powerfl_listener_offset_{HOST}": "8"} and host.told == []  # the answer is start's


def test_listen_answers_invitations_already_waiting_without_deferring(keys, host, monkeypatch):
    """A trigger firing at once races Airflow's handling of the deferral's exit: what waits is answered in the task."""
    import base64

    monkeypatch.setattr(listener, "read_invitations", lambda *args: ([(7, base64.b64decode(wire(keys)))], 8))
    op = InvitationListenerOperator(task_id="listen", pipelines=["pipe"])
    (run,) = op._listen({}, 7, time.time() + 60)
    assert run["job_id"] == "job-i" and host.offsets == {f"powerfl_listener_offset_{HOST}": "8"}


def test_listen_answers_a_refusal_itself_and_listens_on(keys, host):
    op = InvitationListenerOperator(task_id="listen", pipelines=["other"])
    event = {"status": "invitations", "messages": [{"offset": 7, "wire": wire(keys)}], "offset": 8}
    with pytest.raises(TaskDeferred):
        op.execute_complete({}, event, deadline=time.time() + 60)
    ((_, _, me, to, job_id, nonce, status, reason),) = host.told
    assert (me, to, job_id, nonce.hex(), status) == (
        HOST,
        GUEST,
        "job-i",
        NONCE,
        "failed",
    ) and "does not run pipeline 'pipe'" in reason


def test_start_is_a_trigger_dag_run_of_the_job_with_nothing_templated():
    run = invited_run(Invitation("job-i", "pipe", CONF, GUEST, HOST, time.time()))
    op = InvitedRunOperator(task_id="start", invitation=run)
    assert op.template_fields == ()  # the conf is another party's text: never rendered as Jinja
    ti = SimpleNamespace(xcom_push=lambda **kwargs: None)
    with pytest.raises(DagRunTriggerException) as started:
        op.execute({"ti": ti})
    trigger = started.value
    assert (trigger.trigger_dag_id, trigger.dag_run_id, trigger.logical_date) == ("pipe", "job-i", None)
    assert trigger.conf == {**CONF, "initiator": GUEST} and trigger.skip_when_already_exists


def test_start_tells_the_initiator_whether_the_run_started(host):
    op = InvitedRunOperator(task_id="start", invitation=invited_run(Invitation("job-i", "pipe", CONF, GUEST, HOST, time.time())))
    op.on_success_callback[0]({"task": op})
    op.on_failure_callback[0]({"task": op, "exception": RuntimeError("DAG 'pipe' not found")})
    (ok, failed) = host.told
    assert ok[3:] == (GUEST, "job-i", bytes.fromhex(NONCE), "success", "run job-i of pipe")
    assert failed[6:] == ("failed", f"party {HOST} could not start pipe for job 'job-i': DAG 'pipe' not found")


def test_listen_rereads_the_pipelines_directory_before_refusing_an_unknown_pipeline(keys, host, tmp_path):
    import yaml

    from tests.support.parties import pipeline_definition

    op = InvitationListenerOperator(task_id="listen", pipelines=["other"], pipelines_dir=str(tmp_path))
    event = {"status": "invitations", "messages": [{"offset": 7, "wire": wire(keys)}], "offset": 8}
    with pytest.raises(TaskDeferred):  # not stored yet: refused, and the listener listens on
        op.execute_complete({}, event, deadline=time.time() + 60)
    assert [told[6] for told in host.told] == ["failed"]
    # pushed since the listener's run started (POST /flow-server/pipelines writes it there): accepted at once
    (tmp_path / "pipe.yaml").write_text(yaml.safe_dump(pipeline_definition(GUEST, HOST, dag_id="pipe")))
    event = {"status": "invitations", "messages": [{"offset": 8, "wire": wire(keys)}], "offset": 9}
    (run,) = op.execute_complete({}, event, deadline=time.time() + 60)
    assert run["dag_id"] == "pipe" and op.pipelines == ["other", "pipe"] and len(host.told) == 1
