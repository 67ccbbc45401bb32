"""Replays from an earlier run of the same job id and attempt, and forged or stale status events.

A job id and attempt recur when a job is re-submitted under its id; its inbox topics then still hold
the earlier run's messages, read from the start. Only the run nonce (drawn by the initiator, sent in
its invitation, signed into every envelope) tells the two runs apart: each test shows a message or
event of the earlier run, validly signed by the real peer, refused with the peer and job named.
"""

from __future__ import annotations

import logging
import time
import uuid

import pytest

from airflow_provider_powerfl.federation.envelope import new_nonce
from airflow_provider_powerfl.federation.errors import MalformedMessage, RecvTimeout
from airflow_provider_powerfl.federation.events import EVENT_MAX_AGE, EventReader, StatusEvent, open_event, publish_event
from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.memory import memory_parties
from airflow_provider_powerfl.federation.party import Party
from airflow_provider_powerfl.federation.registry import PartyRegistry

GUEST, HOST = "10000", "20000"
ROLES = {GUEST: "guest", HOST: "host"}
OTHER_RUN = "another run of the job (nonce)"


@pytest.fixture
def keys() -> dict[str, SigningKey]:
    """The parties' long-lived keys: the same in every run."""
    return {GUEST: SigningKey.generate(), HOST: SigningKey.generate()}


def registry_of(keys: dict[str, SigningKey], brokers: dict[str, str]) -> PartyRegistry:
    parties = {p: {"role": ROLES[p], "bootstrap_servers": brokers[p], "public_key": k.public_key.pem()} for p, k in keys.items()}
    return PartyRegistry.from_dict({"parties": parties})


def test_an_earlier_runs_messages_are_refused_in_memory(keys, caplog):
    earlier: list[bytes] = []
    old = memory_parties("job-r", ROLES, keys=keys, capture=earlier)
    old[GUEST].send(HOST, "gradient", "earlier run's")
    new = memory_parties("job-r", ROLES, keys=keys)
    hub = new[HOST].transport.hub  # type: ignore[attr-defined]
    for wire in earlier:  # the earlier run's messages arrive first, as from a topic read from its start
        hub.deliver(HOST, wire)
    new[GUEST].send(HOST, "gradient", "this run's")
    with caplog.at_level(logging.WARNING):
        assert new[HOST].recv(GUEST, "gradient", timeout=5) == "this run's"
    assert new[HOST].inbox.rejected == {OTHER_RUN: len(earlier)}
    assert f"party {HOST} refused a message ({OTHER_RUN}): from '{GUEST}' job 'job-r' attempt 1" in caplog.text


def test_an_earlier_runs_messages_alone_never_reach_the_protocol(keys):
    earlier: list[bytes] = []
    memory_parties("job-r", ROLES, keys=keys, capture=earlier)[GUEST].send(HOST, "gradient", "earlier run's")
    host = memory_parties("job-r", ROLES, keys=keys)[HOST]
    for wire in earlier:
        host.transport.hub.deliver(HOST, wire)  # type: ignore[attr-defined]
    with pytest.raises(RecvTimeout):
        host.recv(GUEST, "gradient", timeout=0.2)
    assert host.inbox.rejected == {OTHER_RUN: 1}


@pytest.mark.integration
def test_a_resubmitted_job_reads_past_the_earlier_runs_messages_on_kafka(keys, kafka_brokers):
    registry = registry_of(keys, {GUEST: kafka_brokers["guest"], HOST: kafka_brokers["host"]})
    job = f"replay-{uuid.uuid4().hex[:10]}"

    def run() -> dict[str, Party]:
        nonce = new_nonce()
        return {p: Party.from_registry(registry, p, keys[p], job, 1, nonce=nonce, silence_timeout=None) for p in keys}

    earlier = run()
    earlier[GUEST].send(HOST, "gradient", "earlier run's")
    earlier[GUEST].transport.flush()
    for party in earlier.values():
        party.close()  # the host never read it: it waits in the host's inbox topic

    again = run()  # same job id, attempt and keys; its consumers read the topic from the start
    try:
        again[GUEST].send(HOST, "gradient", "this run's")
        assert again[HOST].recv(GUEST, "gradient", timeout=60) == "this run's"
        assert again[HOST].inbox.rejected == {OTHER_RUN: 1}
    finally:
        for party in again.values():
            party.close()


def wire_event(key: SigningKey, nonce: bytes, timestamp: float, job: str = "job-e") -> bytes:
    """What publish_event produces, without a broker (an event of party HOST to party GUEST)."""
    from airflow_provider_powerfl.federation import codec
    from airflow_provider_powerfl.federation.envelope import Header, seal
    from airflow_provider_powerfl.federation.events import EVENT_TAG

    payload = codec.encode_bytes({"task": "train", "status": "success", "reason": None, "attempt": 1})
    header = Header(job, 1, EVENT_TAG, 0, 0, 1, 0, len(payload), HOST, GUEST, timestamp, nonce)
    return seal(header, [payload], key)


@pytest.mark.parametrize(
    ("case", "refusal"),
    [
        ("forged", f"event from party {HOST} has a bad signature"),
        ("earlier run", f"event from party {HOST} belongs to another run of job 'job-e' \\(nonce\\)"),
        ("stale", f"event from party {HOST} in job 'job-e' is \\d+s old \\(limit {EVENT_MAX_AGE:.0f}s\\)"),
        ("from the future", f"event from party {HOST} in job 'job-e' is dated \\d+s ahead of this clock"),
    ],
)
def test_forged_replayed_and_stale_events_are_refused(keys, case, refusal):
    registry = registry_of(keys, {GUEST: "127.0.0.1:1", HOST: "127.0.0.1:1"})
    nonce, now = new_nonce(), time.time()
    assert open_event(wire_event(keys[HOST], nonce, now), registry, GUEST, "job-e", nonce).status == "success"
    key, sent_nonce, stamp = {
        "forged": (SigningKey.generate(), nonce, now),
        "earlier run": (keys[HOST], new_nonce(), now),
        "stale": (keys[HOST], nonce, now - EVENT_MAX_AGE - 60),
        "from the future": (keys[HOST], nonce, now + 3600),
    }[case]
    with pytest.raises(MalformedMessage, match=refusal):
        open_event(wire_event(key, sent_nonce, stamp), registry, GUEST, "job-e", nonce)


@pytest.mark.integration
def test_the_event_reader_keeps_only_this_runs_fresh_signed_events_on_kafka(keys, kafka_brokers, caplog):
    registry = registry_of(keys, {GUEST: kafka_brokers["guest"], HOST: kafka_brokers["host"]})
    job, nonce, now = f"events-{uuid.uuid4().hex[:10]}", new_nonce(), time.time()

    def post(status: str, key: SigningKey, run: bytes, timestamp: float) -> None:
        publish_event(registry, key, StatusEvent(job, HOST, "train", status, 1, None, timestamp), [GUEST], nonce=run)

    post("failed", keys[HOST], new_nonce(), now)  # an earlier run of the job failed
    post("failed", SigningKey.generate(), nonce, now)  # forged
    post("failed", keys[HOST], nonce, now - EVENT_MAX_AGE - 60)  # stale
    post("running", keys[HOST], nonce, now)
    with caplog.at_level(logging.WARNING), EventReader(registry, GUEST, job, nonce=nonce) as reader:
        events = reader.read_all(timeout=30)
    assert [(e.party_id, e.status) for e in events] == [(HOST, "running")]
    assert (
        f"belongs to another run of job {job!r}" in caplog.text and "bad signature" in caplog.text and "old (limit" in caplog.text
    )


def test_the_listener_starts_the_invited_run_with_the_initiators_nonce_and_answers_in_that_run(keys, monkeypatch):
    from types import SimpleNamespace

    from airflow_provider_powerfl.operators import listener
    from airflow_provider_powerfl.orchestration import invitation as invitation_module
    from airflow_provider_powerfl.orchestration.invitation import Invitation, seal_invitation
    from airflow_provider_powerfl.policy import PartyPolicy

    told = []
    monkeypatch.setattr(invitation_module, "publish_event", lambda *args, nonce, timeout: told.append((args[2], nonce)))
    registry = registry_of(keys, {GUEST: "127.0.0.1:1", HOST: "127.0.0.1:1"})
    monkeypatch.setattr(listener, "_party_keys", lambda conn_id: (SimpleNamespace(party_id=HOST), registry, keys[HOST]))
    nonce = new_nonce()
    conf = {"job_id": "job-i", "parties": [f"{GUEST}=guest", f"{HOST}=host"], "nonce": nonce.hex()}
    op = listener.InvitationListenerOperator(task_id="listen", pipelines=["pipe"])
    policy = PartyPolicy(allowed_parties=(GUEST,))

    def answer(conf: dict) -> dict:
        wire = seal_invitation(Invitation("job-i", "pipe", conf, GUEST, HOST, time.time()), keys[GUEST])
        return op._answer(wire, HOST, registry, keys[HOST], policy)

    accepted = answer(conf)
    start = listener.InvitedRunOperator(task_id="start", invitation=accepted["run"])
    assert start.conf["nonce"] == nonce.hex() and start.trigger_run_id == "job-i"
    start.on_success_callback[0]({"task": start})  # the run started: the initiator hears it
    assert told[-1][0].status == "success" and told[-1][1] == nonce  # the initiator's reader of this run takes it
    refused = answer({**conf, "parties": [f"{GUEST}=guest", "30000=host"]})  # refused after the signature held
    assert not refused["accepted"] and told[-1][0].status == "failed" and told[-1][1] == nonce


def test_an_invitation_whose_conf_and_header_nonces_differ_is_refused(keys):
    from airflow_provider_powerfl.federation import codec
    from airflow_provider_powerfl.federation.envelope import Header, seal
    from airflow_provider_powerfl.orchestration.invitation import INVITATION_TAG, InvitationRefused, open_invitation
    from airflow_provider_powerfl.policy import PartyPolicy

    registry = registry_of(keys, {GUEST: "127.0.0.1:1", HOST: "127.0.0.1:1"})
    conf = {"job_id": "job-i", "parties": [f"{GUEST}=guest", f"{HOST}=host"], "nonce": new_nonce().hex()}
    payload = codec.encode_bytes({"dag_id": "pipe", "conf": conf})
    header = Header("job-i", 1, INVITATION_TAG, 0, 0, 1, 0, len(payload), GUEST, HOST, time.time(), new_nonce())
    with pytest.raises(InvitationRefused, match="conf.nonce differs from the signed header's") as refused:
        open_invitation(
            seal(header, [payload], keys[GUEST]), registry, HOST, policy=PartyPolicy(allowed_parties=(GUEST,)), pipelines={"pipe"}
        )
    assert refused.value.sender == GUEST
