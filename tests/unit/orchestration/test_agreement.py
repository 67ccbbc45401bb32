"""Only the exact pipeline version every party accepted runs: each way to break that is refused, naming why."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.orchestration import workspace as workspace_module
from airflow_provider_powerfl.orchestration.agreement import (
    AgreementRefused,
    agreement_state,
    check_agreed,
    decision_body,
    pipeline_version,
    proposal_body,
    seal_record,
)
from airflow_provider_powerfl.orchestration.workspace import Workspace, require_agreed, workspace_dir
from tests.support.parties import pipeline_definition

GUEST, HOST, OTHER = "10000", "20000", "30000"
PIPELINE = "powerfl_ws"


@pytest.fixture
def net(tmp_path: Path):
    """Three parties' keys, one registry, each party's pipelines dir and workspace; messages handed over directly."""
    keys = {p: SigningKey.generate() for p in (GUEST, HOST, OTHER)}
    registry = PartyRegistry.from_dict({"parties": {
        p: {"role": r, "bootstrap_servers": "127.0.0.1:1", "public_key": keys[p].public_key.pem()}
        for p, r in ((GUEST, "guest"), (HOST, "host"), (OTHER, "host"))
    }})  # fmt: skip
    dirs = {p: tmp_path / p / "pipelines" for p in keys}
    spaces = {p: Workspace(workspace_dir(d), registry, p) for p, d in dirs.items()}

    def send(body, sender, receivers=(GUEST, HOST)):
        for receiver in receivers:
            spaces[receiver].keep(seal_record(body, sender, receiver, keys[sender]))

    def propose(definition, sender=GUEST, user="alice"):
        body = proposal_body(definition, user, "first draft")
        for party in (GUEST, HOST):
            (dirs[party]).mkdir(parents=True, exist_ok=True)
        (dirs[sender] / f"{PIPELINE}.yaml").write_text(yaml.safe_dump(definition, sort_keys=False))
        send(body, sender)
        return body["version"]

    def decide(version, party, decision, user="bob", comment=""):
        if decision == "accept":  # accepting installs that version (proposals.py does it at the flow-server)
            proposal = next(r for r in spaces[party].read()[0] if r.kind == "proposal" and r.version == version)
            (dirs[party] / f"{PIPELINE}.yaml").write_text(yaml.safe_dump(dict(proposal.definition), sort_keys=False))
        send(decision_body(PIPELINE, version, decision, user, comment), party)

    return SimpleNamespace(keys=keys, registry=registry, dirs=dirs, spaces=spaces, send=send, propose=propose, decide=decide)


def definition(max_iter: int = 3):
    d = pipeline_definition(GUEST, HOST, dag_id=PIPELINE)
    d["tasks"]["train"]["parameters"]["max_iter"] = max_iter
    return d


def check(net, party, version=None, parties=(GUEST, HOST)):
    return require_agreed(net.registry, party, net.dirs[party], PIPELINE, version, list(parties))


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    """The hand-over is `net.send`; the real topic read is tests/integration/test_workspace_channel.py's."""
    monkeypatch.setattr(workspace_module.Workspace, "sync", lambda self, timeout=10.0: 0)


def test_a_version_every_named_party_accepted_runs_at_both(net):
    version = net.propose(definition())
    net.decide(version, HOST, "accept")
    assert check(net, GUEST, version) == check(net, HOST, version) == version
    assert agreement_state(net.spaces[HOST].read()[0], PIPELINE, version) == "accepted"


def test_an_unaccepted_version_does_not_run(net):
    version = net.propose(definition())
    with pytest.raises(AgreementRefused, match=f"party {HOST} has not accepted it"):
        check(net, GUEST, version)
    with pytest.raises(AgreementRefused, match=f"party {HOST} holds no pipeline"):  # nor at the host: it holds none
        check(net, HOST, version)


def test_a_rejected_version_does_not_run_and_the_reason_is_named(net):
    version = net.propose(definition())
    net.decide(version, HOST, "reject", comment="3 epochs are too few")
    with pytest.raises(AgreementRefused, match=r"party 20000 rejected it \(bob: 3 epochs are too few\)"):
        check(net, GUEST, version)
    assert agreement_state(net.spaces[GUEST].read()[0], PIPELINE, version) == "rejected"


def test_a_version_edited_after_its_acceptance_does_not_run(net):
    version = net.propose(definition())
    net.decide(version, HOST, "accept")
    edited = definition(max_iter=30)
    (net.dirs[GUEST] / f"{PIPELINE}.yaml").write_text(yaml.safe_dump(edited))  # by hand, or a save not yet accepted
    with pytest.raises(AgreementRefused, match="never proposed"):
        check(net, GUEST)
    with pytest.raises(AgreementRefused, match=f"party {GUEST} holds version {pipeline_version(edited)[:12]}"):
        check(net, GUEST, version)  # the DAG was parsed from the accepted version, the file is another
    with pytest.raises(AgreementRefused, match=f"party {HOST} holds version {version[:12]}.* runs version"):
        check(net, HOST, pipeline_version(edited))  # invited to run the edited one


def test_a_tampered_proposal_is_refused_and_never_counts(net):
    body = proposal_body(definition(), "alice", "")
    wire = bytearray(seal_record(body, GUEST, HOST, net.keys[GUEST]))
    at = wire.find(b"max_iter") + len(b"max_iter") + 1  # the encoded 3 right after the key
    wire[at] ^= 0x01
    net.spaces[HOST].keep(bytes(wire))
    forged = proposal_body(definition(), "mallory", "")
    net.spaces[HOST].keep(seal_record(forged, GUEST, HOST, SigningKey.generate()))  # not the guest's key
    altered = copy.deepcopy(forged)
    altered["definition"]["tasks"]["train"]["parameters"]["max_iter"] = 99  # version no longer matches
    net.spaces[HOST].keep(seal_record(altered, GUEST, HOST, net.keys[GUEST]))
    records, refused = net.spaces[HOST].read()
    assert records == [] and len(refused) == 3
    reasons = " | ".join(r["reason"] for r in refused)
    assert "bad signature" in reasons and "altered" in reasons


def test_a_party_missing_from_the_agreement_stops_the_job(net):
    version = net.propose(definition())
    net.decide(version, HOST, "accept")
    with pytest.raises(AgreementRefused, match=f"party {OTHER} has not accepted it"):
        check(net, GUEST, version, parties=(GUEST, HOST, OTHER))  # the job's conf adds a party the pipeline does not name
    records = net.spaces[GUEST].read()[0]
    check_agreed(records, PIPELINE, version, (GUEST, HOST))


def test_a_decision_sent_to_another_party_or_by_a_party_not_named_does_not_count(net):
    version = net.propose(definition())
    net.spaces[GUEST].keep(seal_record(decision_body(PIPELINE, version, "accept", "eve", ""), HOST, OTHER, net.keys[HOST]))
    records, refused = net.spaces[GUEST].read()
    assert "no workspace message to party 10000" in refused[0]["reason"]
    net.send(decision_body(PIPELINE, version, "accept", "carol", ""), OTHER)  # 30000 is not named: its word is no host's
    with pytest.raises(AgreementRefused, match=f"party {HOST} has not accepted it"):
        check(net, GUEST, version)


def test_a_later_rejection_withdraws_an_acceptance(net):
    version = net.propose(definition())
    net.decide(version, HOST, "accept")
    net.decide(version, HOST, "reject", comment="changed my mind")
    with pytest.raises(AgreementRefused, match="rejected it"):
        check(net, GUEST, version)
