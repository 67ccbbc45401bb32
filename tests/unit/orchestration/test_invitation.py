from __future__ import annotations

import time

import pytest

from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.orchestration.invitation import Invitation, InvitationRefused, open_invitation, seal_invitation
from airflow_provider_powerfl.policy import PartyPolicy

OPEN = PartyPolicy(allowed_parties=("10000",))  # party 20000's policy: 10000 may start jobs there
CONF = {"job_id": "j1", "parties": ["10000=guest", "20000=host"], "common-args": {"train": {"max_iter": 3}}, "nonce": "0f" * 16}


@pytest.fixture()
def keys():
    return {"10000": SigningKey.generate(), "20000": SigningKey.generate(), "30000": SigningKey.generate()}


@pytest.fixture()
def registry(keys):
    parties = {
        pid: {"role": role, "bootstrap_servers": "127.0.0.1:1", "public_key": keys[pid].public_key.pem()}
        for pid, role in (("10000", "guest"), ("20000", "host"), ("30000", "host"))
    }
    return PartyRegistry.from_dict({"parties": parties})


def wire(key, sender="10000", receiver="20000", dag_id="pipe", conf=CONF, job_id="j1", timestamp=None):
    return seal_invitation(Invitation(job_id, dag_id, conf, sender, receiver, timestamp or time.time()), key)


def test_a_valid_invitation_opens_with_its_conf(keys, registry):
    inv = open_invitation(wire(keys["10000"]), registry, "20000", policy=OPEN, pipelines={"pipe"})
    assert (inv.job_id, inv.dag_id, inv.initiator, inv.receiver) == ("j1", "pipe", "10000", "20000")
    assert inv.conf == CONF


def test_an_invitation_signed_by_an_unknown_key_is_refused_and_nobody_is_told(keys, registry):
    forged = wire(SigningKey.generate())
    with pytest.raises(InvitationRefused, match="claiming party 10000 has a bad signature") as err:
        open_invitation(forged, registry, "20000", policy=OPEN, pipelines={"pipe"})
    assert err.value.sender is None


def test_a_party_off_the_allow_list_is_refused_and_told(keys, registry):
    with pytest.raises(
        InvitationRefused, match=r"refuses initiator='30000': may not start jobs here \(allowed_parties: 10000\)"
    ) as err:
        open_invitation(wire(keys["30000"], sender="30000", conf={**CONF, "parties": ["30000=guest", "20000=host"]}),
                        registry, "20000", policy=OPEN, pipelines={"pipe"})  # fmt: skip
    assert err.value.sender == "30000"


def test_an_unknown_pipeline_is_refused_naming_it(keys, registry):
    with pytest.raises(InvitationRefused, match="does not run pipeline 'other'"):
        open_invitation(wire(keys["10000"], dag_id="other"), registry, "20000", policy=OPEN, pipelines={"pipe"})


def test_a_job_without_the_receiver_is_refused(keys, registry):
    conf = {**CONF, "parties": ["10000=guest", "30000=host"]}
    with pytest.raises(InvitationRefused, match="party 20000 is not among the parties"):
        open_invitation(wire(keys["10000"], conf=conf), registry, "20000", policy=OPEN, pipelines={"pipe"})


def test_an_invitation_for_another_party_or_too_old_is_refused(keys, registry):
    with pytest.raises(InvitationRefused, match="no invitation to party 30000"):
        open_invitation(wire(keys["10000"]), registry, "30000", policy=OPEN, pipelines={"pipe"})
    with pytest.raises(InvitationRefused, match="old"):
        open_invitation(wire(keys["10000"], timestamp=time.time() - 7200), registry, "20000", policy=OPEN, pipelines={"pipe"})
