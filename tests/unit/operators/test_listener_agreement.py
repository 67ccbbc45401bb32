"""A listener whose policy requires agreement starts only the invited version, and only once every party accepted it."""

from __future__ import annotations

import base64
import time
from types import SimpleNamespace

import pytest
import yaml
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_powerfl.operators import listener
from airflow_provider_powerfl.operators.listener import InvitationListenerOperator
from airflow_provider_powerfl.orchestration import workspace as workspace_module
from airflow_provider_powerfl.orchestration.agreement import decision_body, proposal_body, seal_record
from airflow_provider_powerfl.orchestration.invitation import Invitation, seal_invitation
from airflow_provider_powerfl.orchestration.workspace import Workspace, workspace_dir
from airflow_provider_powerfl.policy import PartyPolicy
from tests.support.parties import pipeline_definition
from tests.unit.operators.test_listener import CONF, GUEST, HOST, host, keys  # noqa: F401 (fixtures)

STRICT = PartyPolicy(allowed_parties=(GUEST,), require_agreement=True)


@pytest.fixture
def agreed(keys, host, tmp_path, monkeypatch):  # noqa: F811
    """The host's pipelines dir with the guest's proposal of "pipe" stored; the host has not decided yet."""
    monkeypatch.setattr(workspace_module.Workspace, "sync", lambda self, timeout=10.0: 0)
    party, registry, key = listener._party_keys("powerfl_default")
    monkeypatch.setattr(listener, "_party_keys", lambda conn_id: (SimpleNamespace(party_id=HOST, policy=STRICT), registry, key))
    definition = pipeline_definition(GUEST, HOST, dag_id="pipe")
    (tmp_path / "pipe.yaml").write_text(yaml.safe_dump(definition))
    space = Workspace(workspace_dir(tmp_path), registry, HOST)
    body = proposal_body(definition, "alice", "")
    space.keep(seal_record(body, GUEST, HOST, keys[GUEST]))
    return SimpleNamespace(space=space, version=body["version"], dir=tmp_path)


def listen(keys, host, agreed, version):  # noqa: F811
    wire = seal_invitation(Invitation("job-i", "pipe", CONF, GUEST, HOST, time.time(), version), keys[GUEST])
    op = InvitationListenerOperator(task_id="listen", pipelines=["pipe"], pipelines_dir=str(agreed.dir))
    event = {"status": "invitations", "messages": [{"offset": 1, "wire": base64.b64encode(wire).decode()}], "offset": 2}
    try:
        return op.execute_complete({}, event, deadline=time.time() + 60)
    except TaskDeferred:  # refused: the listener listens on
        return host.told[-1][7]


def test_an_invitation_to_a_version_the_host_did_not_accept_is_refused(keys, host, agreed):  # noqa: F811
    assert "party 20000 has not accepted it" in listen(keys, host, agreed, agreed.version)


def test_an_invitation_without_a_version_is_refused(keys, host, agreed):  # noqa: F811
    assert "names no pipeline version" in listen(keys, host, agreed, None)


def test_the_accepted_version_starts_and_another_is_refused(keys, host, agreed):  # noqa: F811
    agreed.space.keep(seal_record(decision_body("pipe", agreed.version, "accept", "bob", ""), HOST, HOST, keys[HOST]))
    (run,) = listen(keys, host, agreed, agreed.version)
    assert run["dag_id"] == "pipe"
    assert "runs version 000000000000" in listen(keys, host, agreed, "0" * 64)
