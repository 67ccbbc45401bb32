"""A malicious initiator's conf tries to lower each value a party's privacy policy pins; each is refused, nothing runs.

Two real gates are driven: the listener answering a signed invitation (refused
there, the initiator is told why and no run starts) and the step operator
building its task spec (refused before the Spark step is launched, the peers
are told why, no retry). Party 10000 is the guest, 20000 the host.
"""

from __future__ import annotations

import re
import secrets
import time
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_powerfl.crypto.paillier import INSECURE_TEST_KEYS_ENV
from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.federation.keys import SigningKey, generate_party_keys
from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.hooks.party import PartyConnection, PowerFLPartyHook
from airflow_provider_powerfl.operators import FederatedAlignOperator, FederatedFeatureEngineeringOperator, FederatedTrainOperator
from airflow_provider_powerfl.operators.listener import InvitationListenerOperator
from airflow_provider_powerfl.operators.step import FederatedStepOperator
from airflow_provider_powerfl.orchestration.invitation import Invitation, seal_invitation
from airflow_provider_powerfl.policy import PartyPolicy, PolicyRefused

GUEST, HOST = "10000", "20000"
PIPELINE = "powerfl_pipeline_hetero_lr"


@pytest.fixture
def fed(tmp_path):
    """Keys and registry of both parties, and each party's policy: the other may start jobs, data under /data/<party>."""
    parties = {}
    for party_id, role in ((GUEST, "guest"), (HOST, "host")):
        _, public = generate_party_keys(tmp_path / "keys", party_id)
        parties[party_id] = {"role": role, "bootstrap_servers": "127.0.0.1:1", "public_key": str(public)}
    registry = tmp_path / "parties.yaml"
    registry.write_text(yaml.safe_dump({"parties": parties}))
    work = tmp_path / "work"
    policies = {
        GUEST: PartyPolicy(
            allowed_parties=(HOST,), input_prefixes=(f"/data/{GUEST}",), output_dir=str(work / GUEST), min_batch_size=256
        ),
        HOST: PartyPolicy(allowed_parties=(GUEST,), input_prefixes=(f"/data/{HOST}",), output_dir=str(work / HOST)),
    }
    return SimpleNamespace(root=tmp_path, registry=registry, work=work, policies=policies)


def conf_asking(party_id: str, step: str, args: dict[str, Any], common: dict[str, Any] | None = None) -> dict[str, Any]:
    """A job conf setting `args` for `party_id`'s `step`: what a malicious initiator writes."""
    return {
        "job_id": "j-evil",
        "parties": [f"{GUEST}=guest", f"{HOST}=host"],
        "nonce": secrets.token_hex(16),
        "common-args": common or {},
        "parties-args": {party_id: {step: args}},
    }


# each pinned value, asked below the policy, with the error naming field, asked value and the policy's value
def attack(name: str, party_id: str, step: str, args: dict[str, Any], reason: str) -> Any:
    return pytest.param(party_id, step, args, reason, id=name)


ATTACKS = [
    attack("key_length", GUEST, "train", {"key_length": 1024}, r"refuses params\.key_length=1024: below min_key_length=2048"),
    attack("min_batch_size", GUEST, "train", {"min_batch_size": 1}, r"refuses params\.min_batch_size=1: below min_batch_size=256"),
    attack("batch_size", GUEST, "train", {"batch_size": 128}, r"refuses params\.batch_size=128: below min_batch_size=256"),
    attack("no_label_noise", GUEST, "train", {"epsilon": None}, r"refuses params\.epsilon=None: above max_epsilon=16\.0"),
    attack("weak_label_noise", GUEST, "train", {"epsilon": 1000.0}, r"refuses params\.epsilon=1000\.0: above max_epsilon=16\.0"),
    attack("min_support", GUEST, "train", {"min_support": 1}, r"refuses params\.min_support=1: below min_support=16"),
    attack("goss", GUEST, "train", {"algorithm": "secureboost", "goss": True}, r"refuses params\.goss=True: allow_goss=False"),
    attack("hide_instance_space", GUEST, "train", {"algorithm": "secureboost", "hide_instance_space": False},
           r"refuses params\.hide_instance_space=False: hide_instance_space=True"),
    attack("host_min_batch", HOST, "train", {"min_batch_size": 1},
           r"party 20000's privacy policy refuses params\.min_batch_size=1: below min_batch_size=64"),
    attack("return_woe", GUEST, "feature_engineering", {"binning": {"return_woe": True}},
           r"refuses params\.binning\.return_woe=True: return_woe=False"),
    attack("woe_key_length", GUEST, "feature_engineering", {"binning": {"key_length": 512}},
           r"refuses params\.binning\.key_length=512: below min_key_length=2048"),
    attack("input_uri", GUEST, "align", {"inputs": {"train": {"uri": "/etc/shadow", "format": "csv"}}},
           r"refuses inputs\.train\.uri='/etc/shadow': outside input_prefixes"),
    attack("input_dotdot", GUEST, "align", {"inputs": {"train": {"uri": "/data/10000/../20000/host.csv", "format": "csv"}}},
           r"inputs\.train\.uri='/data/10000/\.\./20000/host\.csv': outside"),
    attack("output_dir", GUEST, "align", {"output_dir": "/home/guest/models"},
           r"refuses (output_dir|outputs\.dir)='/home/guest/models': not below output_dir"),
    attack("work_dir", GUEST, "align", {"work_dir": "/"}, r"refuses (work_dir='/'|outputs\.dir='/j-evil/10000/align')"),
    attack("algorithm", GUEST, "train", {"algorithm": "secureboost"},
           r"refuses algorithm='secureboost': not among this party's algorithms \(psi_ecdh, hetero_lr, woe_iv\)"),
    attack("psi_protocol", GUEST, "align", {"protocol": "rsa"}, r"refuses algorithm='psi_rsa': not among"),
    attack("lr_privacy", HOST, "train", {"privacy": "default"},
           r"party 20000's privacy policy refuses params\.privacy='default': hetero_lr_privacy='strict'"),
]  # fmt: skip


def _restrict_algorithms(fed, party_id: str, args: dict[str, Any]) -> None:
    """Algorithms this party allows: all but SecureBoost and RSA PSI, unless the attack is on SecureBoost's own pins."""
    tree_pin = "goss" in args or "hide_instance_space" in args
    allowed = ("psi_ecdh", "hetero_lr", "woe_iv", *(("secureboost",) if tree_pin else ()))
    update: dict[str, Any] = {"algorithms": allowed, **({"hetero_lr_privacy": "strict"} if "privacy" in args else {})}
    update.update({"hide_instance_space": True} if "hide_instance_space" in args else {})
    fed.policies[party_id] = fed.policies[party_id].model_copy(update=update)


# ------------------------------------------------------------------ the listener refuses the invitation
class Listener:
    """The real listener operator of one party, its answers recorded instead of sent (an accepted one's run is its outcome's)."""

    def __init__(self, fed, me: str, monkeypatch) -> None:
        self.told: list[tuple[Any, ...]] = []
        monkeypatch.setattr("airflow_provider_powerfl.operators.listener.answer_invitation", lambda *args: self.told.append(args))
        self.op = InvitationListenerOperator(task_id="listen", pipelines=[PIPELINE])
        self.fed, self.me = fed, me
        self.registry = PartyRegistry.from_yaml(fed.registry)

    def answer(self, sender: str, conf: dict[str, Any]) -> dict[str, Any]:
        key = SigningKey.from_file(self.fed.root / "keys" / f"{sender}.key")
        wire = seal_invitation(Invitation(conf["job_id"], PIPELINE, conf, sender, self.me, time.time()), key)
        mine = SigningKey.from_file(self.fed.root / "keys" / f"{self.me}.key")
        return self.op._answer(wire, self.me, self.registry, mine, self.fed.policies[self.me])


@pytest.mark.parametrize(("party_id", "step", "args", "reason"), ATTACKS)
def test_the_listener_refuses_an_invitation_asking_below_the_policy(fed, monkeypatch, party_id, step, args, reason):
    _restrict_algorithms(fed, party_id, args)
    initiator = HOST if party_id == GUEST else GUEST
    listener = Listener(fed, party_id, monkeypatch)
    outcome = listener.answer(initiator, conf_asking(party_id, step, args))
    assert not outcome["accepted"] and "run" not in outcome  # nothing runs
    assert reason_matches(reason, outcome["reason"]), outcome["reason"]
    ((_, _, me, to, job_id, *rest),) = listener.told  # the initiator is told, with the reason
    assert (
        (me, to, job_id) == (party_id, initiator, "j-evil") and "failed" in rest and any(reason_matches(reason, r) for r in rest)
    )


def reason_matches(pattern: str, value: Any) -> bool:
    return isinstance(value, str) and re.search(pattern, value) is not None


def test_the_listener_refuses_a_party_off_the_allow_list(fed, monkeypatch):
    fed.policies[HOST] = PartyPolicy(output_dir=str(fed.work / HOST))  # no allowed_parties: nobody may start jobs here
    listener = Listener(fed, HOST, monkeypatch)
    outcome = listener.answer(GUEST, conf_asking(HOST, "train", {}))
    assert not outcome["accepted"] and "run" not in outcome
    assert (
        "party 20000's privacy policy refuses initiator='10000': may not start jobs here (allowed_parties: nobody)"
        in outcome["reason"]
    )


def test_the_listener_starts_a_job_within_the_policy(fed, monkeypatch):
    listener = Listener(fed, HOST, monkeypatch)
    inputs = {"inputs": {"train": {"uri": f"/data/{HOST}/train.csv", "format": "csv"}}}
    conf = conf_asking(HOST, "align", inputs, {"train": {"key_length": 3072}})  # more than the policy asks: fine
    outcome = listener.answer(GUEST, conf)
    assert outcome["accepted"], outcome
    assert outcome["run"]["job_id"] == "j-evil"


# ------------------------------------------------------------------ the step refuses before Spark starts
class Step:
    """Runs a real step operator's execute at one party, with the Spark launch and the peer events recorded."""

    def __init__(self, fed, me: str, monkeypatch) -> None:
        self.launched: list[Any] = []
        self.events: list[tuple[str, str | None]] = []
        role = "guest" if me == GUEST else "host"
        party = PartyConnection(
            "powerfl_default",
            me,
            role,
            "127.0.0.1:1",
            str(fed.registry),
            str(fed.root / "keys" / f"{me}.key"),
            policy=fed.policies[me],
        )
        monkeypatch.setattr(PowerFLPartyHook, "get_party", lambda hook: party)
        monkeypatch.setattr(FederatedStepOperator, "_run_local", lambda op, argv, spec, what: self.launched.append(spec))
        monkeypatch.setattr(
            FederatedStepOperator,
            "_tell_peers",
            lambda op, reg, signer, spec, status, reason, strict=False: self.events.append((status, reason)),
        )
        monkeypatch.setattr("airflow_provider_powerfl.operators.step.existing_archive", lambda: None)

    def run(self, op: FederatedStepOperator, conf: dict[str, Any]) -> None:
        context = {
            "dag_run": SimpleNamespace(conf=conf, run_id="manual__1", dag_id=PIPELINE),
            "ti": SimpleNamespace(try_number=1, xcom_pull=lambda task_ids, key=None: None),
        }
        op.execute(context)


def operator_for(step: str) -> FederatedStepOperator:
    if step == "train":
        return FederatedTrainOperator(task_id="train")
    if step == "feature_engineering":
        return FederatedFeatureEngineeringOperator(task_id="fe", step_params={"binning": {"n_bins": 5}})
    return FederatedAlignOperator(task_id="align")


@pytest.mark.parametrize(("party_id", "step", "args", "reason"), ATTACKS)
def test_the_step_refuses_a_conf_asking_below_the_policy_before_spark_runs(fed, monkeypatch, party_id, step, args, reason):
    _restrict_algorithms(fed, party_id, args)
    runner = Step(fed, party_id, monkeypatch)
    with pytest.raises(AirflowFailException, match=reason):  # no retry: a retry would ask the same
        runner.run(operator_for(step), conf_asking(party_id, step, args))
    assert runner.launched == []  # the Spark step never started
    assert [status for status, _ in runner.events] == ["failed"] and reason_matches(reason, runner.events[0][1])


def test_pipeline_parameters_cannot_go_below_the_policy_either(fed, monkeypatch):
    runner = Step(fed, GUEST, monkeypatch)
    with pytest.raises(AirflowFailException, match=r"refuses params\.key_length=1024"):
        runner.run(FederatedTrainOperator(task_id="train", step_params={"key_length": 1024}), conf_asking(GUEST, "train", {}))
    assert runner.launched == []


def test_a_silent_conf_gets_the_policys_values_not_the_algorithms_defaults(fed, monkeypatch):
    runner = Step(fed, GUEST, monkeypatch)
    inputs = {"inputs": {"train": {"uri": f"/data/{GUEST}/train.csv", "format": "csv", "label_column": "y"}}}
    runner.run(FederatedTrainOperator(task_id="train"), conf_asking(GUEST, "train", inputs))
    (spec,) = runner.launched
    assert spec.params["key_length"] == 2048 and spec.params["min_batch_size"] == 256  # hetero LR's own default is 64
    assert spec.params["epsilon"] == 16.0 and spec.params["min_support"] == 16  # the guest's label defences
    assert spec.outputs.dir.startswith(str(fed.work / GUEST) + "/")
    runner.launched.clear()
    runner.run(operator_for("feature_engineering"), conf_asking(GUEST, "feature_engineering", inputs))
    assert runner.launched[0].params["binning"] == {"n_bins": 5, "key_length": 2048, "return_woe": False}


def test_a_party_requiring_strict_lr_gets_it_filled_in_where_the_conf_is_silent(fed, monkeypatch):
    fed.policies[HOST] = fed.policies[HOST].model_copy(update={"hetero_lr_privacy": "strict"})
    runner = Step(fed, HOST, monkeypatch)
    inputs = {"inputs": {"train": {"uri": f"/data/{HOST}/train.csv", "format": "csv"}}}
    runner.run(FederatedTrainOperator(task_id="train"), conf_asking(HOST, "train", inputs))
    (spec,) = runner.launched
    assert spec.params["privacy"] == "strict"


# ------------------------------------------------------------------ the policy itself
def test_the_key_floor_is_2048_bits_unless_the_processes_own_test_switch_is_set(monkeypatch):
    monkeypatch.delenv(INSECURE_TEST_KEYS_ENV, raising=False)
    with pytest.raises(ConfigError, match=r"min_key_length: .*1024 is below the floor of 2048 bits"):
        PartyPolicy.parse({"min_key_length": 1024})
    monkeypatch.setenv(INSECURE_TEST_KEYS_ENV, "1")
    assert PartyPolicy.parse({"min_key_length": 1024}).min_key_length == 1024


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"allowed_partys": ["10000"]}, r"allowed_partys: Extra inputs are not permitted"),
        ({"min_batch_size": "1"}, r"min_batch_size: Input should be a valid integer"),
        ({"return_woe": "yes"}, r"return_woe: Input should be a valid boolean"),
        ({"algorithms": ["xgboost"]}, r"algorithms\.0: Input should be"),
        ({"input_prefixes": ["data/"]}, r"input_prefixes: .*expected an absolute path or URI"),
    ],
)
def test_a_wrong_policy_is_refused_where_it_enters_naming_the_field(data, message):
    with pytest.raises(ConfigError, match=message):
        PartyPolicy.parse(data)


def _connection(extra: dict[str, Any]) -> Any:
    return SimpleNamespace(conn_id="powerfl_default", host="127.0.0.1:1", login=None, password=None,
                           extra_dejson={"party_id": GUEST, "role": "guest", **extra})  # fmt: skip


def test_the_policy_comes_from_the_connection_or_the_file_it_names(tmp_path, monkeypatch):
    monkeypatch.delenv(INSECURE_TEST_KEYS_ENV, raising=False)  # tests/conftest.py sets it for the whole suite
    assert PartyConnection.from_connection(_connection({})).policy.allowed_parties == ()  # none named: nobody
    inline = PartyConnection.from_connection(_connection({"policy": {"allowed_parties": [HOST], "return_woe": True}}))
    assert inline.policy.allowed_parties == (HOST,) and inline.policy.return_woe
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump({"allowed_parties": [HOST], "min_batch_size": 512}))
    assert PartyConnection.from_connection(_connection({"policy_path": str(path)})).policy.min_batch_size == 512
    path.write_text(yaml.safe_dump({"min_key_length": 1024}))
    with pytest.raises(
        ConfigError, match=r"connection 'powerfl_default' field 'policy_path \(.*\)': min_key_length: .*below the floor"
    ):
        PartyConnection.from_connection(_connection({"policy_path": str(path)}))


def test_an_invited_run_ignores_the_initiators_pod_settings():
    from airflow_provider_powerfl.operators.step import own_pod_overrides

    pods = {"image": "evil.example/powerfl:latest"}
    assert own_pod_overrides({"kubernetes": pods, "initiator": HOST}, GUEST) is None  # a partner picks no image here
    assert (
        own_pod_overrides({"kubernetes": pods}, GUEST)
        == pods
        == own_pod_overrides({"kubernetes": pods, "initiator": GUEST}, GUEST)
    )


def test_a_huge_or_long_asked_value_is_named_without_breaking_the_refusal():
    policy = PartyPolicy(min_batch_size=64)
    with pytest.raises(PolicyRefused, match=r"params\.min_batch_size=<a 16610-bit integer>: below min_batch_size=64"):
        policy.check_asked(GUEST, "guest", "train", {"min_batch_size": -(10**5000)}, {}, None, None)
    with pytest.raises(PolicyRefused, match=r"inputs\.x\.uri='/etc/aaaa+\.\.\.: outside"):
        policy.check_asked(GUEST, "guest", "align", {}, {"x": {"uri": "/etc/" + "a" * 10_000}}, None, None)
