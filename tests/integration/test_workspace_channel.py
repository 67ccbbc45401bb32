"""Proposals and decisions cross between two parties' real brokers, signed, and each party's record agrees."""

from __future__ import annotations

import uuid

from airflow_provider_powerfl.federation.kafka_transport import deliver
from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.orchestration.agreement import (
    agreement_state,
    decision_body,
    proposal_body,
    seal_record,
    workspace_topic,
)
from airflow_provider_powerfl.orchestration.workspace import Workspace
from tests.support.parties import pipeline_definition


def test_a_proposal_and_its_acceptance_reach_both_parties_and_a_forgery_on_the_wire_is_refused(kafka_brokers, tmp_path):
    run = uuid.uuid4().hex[:8]  # fresh party ids: fresh topics on the shared brokers
    guest, host = f"1{run}", f"2{run}"
    keys = {guest: SigningKey.generate(), host: SigningKey.generate()}
    registry = PartyRegistry.from_dict({"parties": {
        guest: {"role": "guest", "bootstrap_servers": kafka_brokers["guest"], "public_key": keys[guest].public_key.pem()},
        host: {"role": "host", "bootstrap_servers": kafka_brokers["host"], "public_key": keys[host].public_key.pem()},
    }})  # fmt: skip
    spaces = {p: Workspace(tmp_path / p, registry, p) for p in keys}
    body = proposal_body(pipeline_definition(guest, host, dag_id=f"ws_{run}"), "alice", "please review")
    assert spaces[guest].publish(body, keys[guest], [guest, host]) == {}
    forged = seal_record({**body, "user": "mallory"}, guest, host, SigningKey.generate())
    deliver(registry.get(host).kafka_config(), workspace_topic(host), forged, "a forgery", timeout=15)

    assert spaces[host].sync() == 2
    records, refused = spaces[host].read()
    assert [(r.kind, r.party, r.user, r.comment) for r in records] == [("proposal", guest, "alice", "please review")]
    assert len(refused) == 1 and "bad signature" in refused[0]["reason"]
    assert spaces[host].sync() == 0  # read once: the offset is kept

    accept = decision_body(body["pipeline_id"], body["version"], "accept", "bob", "fine")
    assert spaces[host].publish(accept, keys[host], [guest, host]) == {}
    assert spaces[guest].sync() == 1
    for space in spaces.values():
        assert agreement_state(space.read()[0], body["pipeline_id"], body["version"]) == "accepted"
