"""Two parties, each with its own Airflow (home, SQLite database, API server, scheduler, triggerer), real Kafka and Spark.

One pair of Airflows serves the whole module. Jobs are posted to the guest's
REST API only; the host's runs are started by its listener from the guest's
signed invitation. The pipeline is align (PSI, real Spark) then a wait for
the peer, so each job is short.

Each session uses its own party ids (so its own invitation topics on the
shared brokers) and free ports: other sessions running this module at the
same time, and old invitations left on the brokers, cannot reach it. Every
wait is bounded and says what it waited for.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import time
import uuid
from pathlib import Path

import pytest
import yaml

from airflow_provider_powerfl.orchestration.rest import AirflowApiError
from demo.airflow import LocalAirflow, free_ports, listening
from tests.support.parties import prepare_airflows

pytestmark = pytest.mark.timeout(1200)  # the first test also starts both Airflows; every wait below is bounded

REPO = Path(__file__).resolve().parents[2]
PIPELINE = "powerfl_it_align"
_SESSION = secrets.randbelow(90000) + 10000
GUEST, HOST = f"1{_SESSION}", f"2{_SESSION}"
PARTIES = {GUEST: ("guest", "guest"), HOST: ("host", "host")}
PIPELINE_YAML = {
    "dag_id": PIPELINE,
    "parties": [f"{GUEST}=guest", f"{HOST}=host"],
    "defaults": {"spark": {"master": "local[1]", "conf": {"spark.ui.enabled": "false", "spark.driver.memory": "512m"}}},
    "accept_timeout": 300,
    "tasks": {
        "align": {"component": "align"},
        "peers_aligned": {
            "component": "wait_peers",
            "parameters": {"peer_task": "align", "timeout": 900},
            "depends_on": ["align"],
        },
    },
}
RETRY_PIPELINE = "powerfl_it_align_retry"
RETRY_PIPELINE_YAML = {
    **PIPELINE_YAML,
    "dag_id": RETRY_PIPELINE,
    "tasks": {**PIPELINE_YAML["tasks"], "align": {"component": "align", "retries": 1, "retry_delay": 5}},
}


@pytest.fixture(scope="module")
def parties(tmp_path_factory, kafka_brokers):
    """{"guest": LocalAirflow, "host": LocalAirflow, ...} with both healthy and the DAGs parsed."""
    from airflow_provider_powerfl.datasets.breast import write_breast_split
    from airflow_provider_powerfl.federation.keys import generate_party_keys

    root = tmp_path_factory.mktemp("orchestration")
    entries = {}
    for party_id, (role, broker) in PARTIES.items():
        _, public = generate_party_keys(root / "keys", party_id)
        entries[party_id] = {"role": role, "bootstrap_servers": kafka_brokers[broker], "public_key": str(public)}
    registry = root / "parties.yaml"
    registry.write_text(yaml.safe_dump({"parties": entries}))
    dags = root / "dags"
    (dags / "pipelines").mkdir(parents=True)
    shutil.copy(REPO / "dags" / "powerfl_pipeline_factory.py", dags)
    (dags / "pipelines" / "it_align.yaml").write_text(yaml.safe_dump(PIPELINE_YAML))
    (dags / "pipelines" / "it_align_retry.yaml").write_text(yaml.safe_dump(RETRY_PIPELINE_YAML))
    data = write_breast_split(root / "data")

    airflows = {}
    ports = iter(free_ports(3 * len(PARTIES)))
    for party_id, (role, _) in PARTIES.items():
        conn = {
            "conn_type": "powerfl",
            "host": entries[party_id]["bootstrap_servers"],
            "extra": {"party_id": party_id, "role": role, "registry_path": str(registry),
                      "private_key_path": str(root / "keys" / f"{party_id}.key"),
                      # the other party may start jobs here; data and output stay under this session's root
                      "policy": {"allowed_parties": sorted(set(PARTIES) - {party_id}), "input_prefixes": [str(root)], "output_dir": str(root)}},
        }  # fmt: skip
        env = {"AIRFLOW_CONN_POWERFL_DEFAULT": json.dumps(conn), "PYTHONPATH": str(REPO)}
        airflows[role] = LocalAirflow(
            name=f"{role} {party_id}",
            home=root / role,
            port=next(ports),
            dags_folder=dags,
            env=env,
            log_ports=(next(ports), next(ports)),
        )
    prepare_airflows(root, *airflows.values())  # the session's migrated database (tests/support/parties.py)
    try:
        for airflow in airflows.values():
            airflow.start()
        for airflow in airflows.values():
            airflow.wait_healthy(timeout=300)
            with airflow.client() as client:
                _until(
                    lambda c=client: _has_dags(c), 240, f"{airflow.name} to parse the DAGs:\n{airflow.log_tail('dag-processor')}"
                )
        with airflows["host"].client() as client:
            _until(
                lambda: listening(client),
                240,
                f"the host's listener to wait for invitations:\n{airflows['host'].log_tail('scheduler')}",
            )
        yield {**airflows, "root": root, "data": data, "registry": registry}
    finally:
        for airflow in airflows.values():
            airflow.stop()


def _has_dags(client) -> bool:
    try:
        client.dag(PIPELINE)
        client.dag(RETRY_PIPELINE)
        client.dag("powerfl_listener")
    except AirflowApiError:
        return False
    return True


def _until(check, timeout, what, poll=2.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(poll)


def _conf(parties, job_id, host_uri=None):
    data = parties["data"]
    return {
        "job_id": job_id,
        "parties": [f"{GUEST}=guest", f"{HOST}=host"],
        "common-args": {"work_dir": str(parties["root"] / "work")},
        "parties-args": {
            GUEST: {"align": {"inputs": {"train": {"uri": str(data.guest_train), "format": "csv", "label_column": "y"}}}},
            HOST: {"align": {"inputs": {"train": {"uri": host_uri or str(data.host_train), "format": "csv"}}}},
        },
    }


def _log_text(airflow: LocalAirflow, run_id: str, task_id: str, dag_id: str = PIPELINE, attempt: int = 1) -> str:
    path = airflow.task_log(dag_id, run_id, task_id, attempt)
    return path.read_text(errors="replace") if path.exists() else f"(no log {path})"


def _job(parties, conf, dag_id=PIPELINE):
    with parties["guest"].client() as client:
        run = client.trigger(dag_id, conf, run_id=conf["job_id"])
    assert run["dag_run_id"] == conf["job_id"]
    return conf["job_id"]


def _wait_both(parties, job_id, timeout=900, dag_id=PIPELINE):
    states = {}
    for role in ("guest", "host"):
        with parties[role].client() as client:
            _until(lambda c=client: c.find_run(dag_id, job_id), 300, f"the {role}'s run of {job_id}")
            states[role] = client.wait_run(dag_id, job_id, timeout=timeout, poll=3.0)["state"]
    return states


def _task_states(parties, job_id, dag_id=PIPELINE) -> dict[str, dict[str, str]]:
    """Per party, the state of each task of the job's run (for failure messages)."""
    out = {}
    for role in ("guest", "host"):
        with parties[role].client() as client:
            out[role] = {ti["task_id"]: ti["state"] for ti in client.task_instances(dag_id, job_id)}
    return out


def _step_processes(airflow: LocalAirflow, step: str) -> list[int]:
    """This party's running Spark step processes (spark-submit JVM and Python driver) of `step`."""
    found = []
    for pid in airflow.stragglers():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if f"spark_jobs/run.py {step} ".encode() in cmdline:
            found.append(pid)
    return found


def test_a_job_triggered_through_rest_succeeds_at_both_parties(parties):
    job_id = f"it-ok-{uuid.uuid4().hex[:6]}"
    _job(parties, _conf(parties, job_id))
    states = _wait_both(parties, job_id)
    assert states == {"guest": "success", "host": "success"}, (
        f"{states} {_task_states(parties, job_id)}\n{_log_text(parties['guest'], job_id, 'align')[-3000:]}\n{_log_text(parties['host'], job_id, 'align')[-3000:]}"
    )
    with parties["host"].client() as client:
        run = client.run(PIPELINE, job_id)
        invite = client.xcom(PIPELINE, job_id, "invite")
    assert run["conf"]["initiator"] == GUEST and invite["initiator"] == GUEST
    with parties["guest"].client() as client:
        invite = client.xcom(PIPELINE, job_id, "invite")
        aligned = client.xcom(PIPELINE, job_id, "align")
    assert invite["invited"] == [HOST] and invite["answers"][HOST].startswith("run ")
    assert aligned["metrics"]["train_intersection"] > 300


def test_a_host_task_made_to_fail_fails_both_runs_with_the_hosts_reason(parties):
    job_id = f"it-fail-{uuid.uuid4().hex[:6]}"
    missing = str(parties["root"] / "no-such-host-file.csv")
    _job(parties, _conf(parties, job_id, host_uri=missing))
    states = _wait_both(parties, job_id, timeout=600)
    assert states == {"guest": "failed", "host": "failed"}
    guest_log = _log_text(parties["guest"], job_id, "align")
    assert f"ended by party {HOST}" in guest_log and "no-such-host-file.csv" in guest_log, guest_log[-4000:]


def test_a_conf_beyond_the_hosts_policy_is_refused_by_its_listener_and_no_run_starts_there(parties):
    job_id = f"it-policy-{uuid.uuid4().hex[:6]}"
    _job(parties, _conf(parties, job_id, host_uri="/etc/passwd"))  # outside the host's input_prefixes
    with parties["guest"].client() as client:
        assert client.wait_run(PIPELINE, job_id, timeout=600, poll=3.0)["state"] == "failed"
    invite_log = _log_text(parties["guest"], job_id, "invite")
    assert f"party {HOST} refused job" in invite_log and "refuses inputs.train.uri='/etc/passwd'" in invite_log, invite_log[
        -3000:
    ]
    with parties["host"].client() as client:
        assert client.find_run(PIPELINE, job_id) is None


def test_a_guest_step_beyond_its_own_policy_is_refused_before_spark_and_ends_the_hosts_run_with_the_reason(parties):
    job_id = f"it-own-policy-{uuid.uuid4().hex[:6]}"
    conf = _conf(parties, job_id)
    conf["parties-args"][GUEST]["align"]["output_dir"] = "/tmp/elsewhere"  # outside the guest's output_dir
    _job(parties, conf)
    states = _wait_both(parties, job_id, timeout=600)
    assert states == {"guest": "failed", "host": "failed"}, _task_states(parties, job_id)
    reason = "refuses outputs.dir='/tmp/elsewhere': not below output_dir"
    assert reason in _log_text(parties["guest"], job_id, "align")
    host_log = _log_text(parties["host"], job_id, "align")
    assert f"ended by party {GUEST}" in host_log and reason in host_log, host_log[-4000:]


def test_a_stop_at_the_guest_stops_the_host(parties):
    job_id = f"it-stop-{uuid.uuid4().hex[:6]}"
    _job(parties, _conf(parties, job_id))

    def both_aligning():
        for role in ("guest", "host"):
            with parties[role].client() as client:
                if client.find_run(PIPELINE, job_id) is None:
                    return False
                states = {ti["task_id"]: ti["state"] for ti in client.task_instances(PIPELINE, job_id)}
            if states.get("align") != "running":
                return False
        return True

    _until(both_aligning, 300, "both parties to run align", poll=1.0)
    with parties["guest"].client() as client:
        client.stop(PIPELINE, job_id)
    with parties["host"].client() as client:
        state = client.wait_run(PIPELINE, job_id, timeout=300, poll=2.0)["state"]
    host_log = _log_text(parties["host"], job_id, "align")
    assert state == "failed"
    assert f"run stopped at party {GUEST}" in host_log, host_log[-4000:]


def test_a_step_killed_mid_run_and_retried_completes_the_job(parties):
    job_id = f"it-retry-{uuid.uuid4().hex[:6]}"
    _job(parties, _conf(parties, job_id), dag_id=RETRY_PIPELINE)
    _until(
        lambda: _step_processes(parties["guest"], "align") and _step_processes(parties["host"], "align"),
        420, "both parties' Spark align step of the first attempt", poll=1.0,
    )  # fmt: skip
    time.sleep(3)  # mid-run: both drivers are up and talking
    victims = _step_processes(parties["host"], "align")
    assert victims, "the host's align step ended before it could be killed"
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    states = _wait_both(parties, job_id, dag_id=RETRY_PIPELINE)
    tries = {}
    for role in ("guest", "host"):
        with parties[role].client() as client:
            tries[role] = {ti["task_id"]: ti["try_number"] for ti in client.task_instances(RETRY_PIPELINE, job_id)}["align"]
    guest_first = _log_text(parties["guest"], job_id, "align", RETRY_PIPELINE, attempt=1)
    assert states == {"guest": "success", "host": "success"}, (
        states,
        _task_states(parties, job_id, RETRY_PIPELINE),
        guest_first[-3000:],
    )
    assert tries == {"guest": 2, "host": 2}
    assert f"party {HOST} restarted task 'align'" in guest_first, guest_first[-3000:]


def test_a_conf_with_a_wrong_field_is_refused_at_trigger_time_naming_it(parties):
    conf = {**_conf(parties, f"it-bad-{uuid.uuid4().hex[:6]}"), "parties": [f"{GUEST}:guest", f"{HOST}=host"]}
    with parties["guest"].client() as client, pytest.raises(AirflowApiError) as err:
        client.trigger(PIPELINE, conf, run_id=conf["job_id"])
    assert err.value.status == 400 and "parties" in str(err.value), str(err.value)


def test_a_typo_in_a_steps_args_is_refused_by_the_rest_api_naming_the_key(parties):
    """The DAG's Params carry the job contract's schema: a misspelt parameter never reaches a step."""
    conf = _conf(parties, f"it-typo-{uuid.uuid4().hex[:6]}")
    conf["common-args"] = {**conf["common-args"], "train": {"max_iters": 30}}
    with parties["guest"].client() as client, pytest.raises(AirflowApiError) as err:
        client.trigger(PIPELINE, conf, run_id=conf["job_id"])
    assert err.value.status == 400 and "'max_iters' was unexpected" in str(err.value), str(err.value)[:500]


def test_invitations_signed_by_an_unknown_key_or_for_an_unknown_pipeline_are_refused(parties):
    from airflow_provider_powerfl.federation.envelope import new_nonce
    from airflow_provider_powerfl.federation.events import EventReader
    from airflow_provider_powerfl.federation.keys import SigningKey
    from airflow_provider_powerfl.federation.registry import PartyRegistry
    from airflow_provider_powerfl.orchestration.invitation import INVITATION_TASK, Invitation, send_invitation

    registry = PartyRegistry.from_yaml(parties["registry"])
    forged_job, unknown_job = f"it-forged-{uuid.uuid4().hex[:6]}", f"it-nopipe-{uuid.uuid4().hex[:6]}"
    nonce = new_nonce()
    conf = {**_conf(parties, forged_job), "nonce": nonce.hex()}
    send_invitation(registry, SigningKey.generate(), Invitation(forged_job, PIPELINE, conf, GUEST, HOST, time.time()))
    guest_key = SigningKey.from_file(parties["root"] / "keys" / f"{GUEST}.key")
    send_invitation(
        registry,
        guest_key,
        Invitation(unknown_job, "no_such_pipeline", {**conf, "job_id": unknown_job}, GUEST, HOST, time.time()),
    )

    with EventReader(registry, GUEST, unknown_job, nonce=nonce) as reader:

        def refusal():
            return [e for e in reader.poll(1.0) if e.task == INVITATION_TASK and e.party_id == HOST]

        (answer,) = _until(refusal, 300, "the host's answer to the invitation for an unknown pipeline", poll=0)
    assert answer.status == "failed" and "no_such_pipeline" in answer.reason
    # a forged invitation gets no answer (its claimed sender did not send it): the host's listener logs the refusal
    listener_logs = parties["host"].home / "logs" / "dag_id=powerfl_listener"

    def forged_refused():
        return any(
            forged_job in text and "bad signature" in text
            for text in (p.read_text(errors="replace") for p in listener_logs.rglob("*.log*"))
        )

    _until(forged_refused, 60, f"the host's listener log to refuse {forged_job} for its bad signature")
    with parties["host"].client() as client:
        assert client.find_run(PIPELINE, forged_job) is None
        assert client.find_run(PIPELINE, unknown_job) is None
