"""Two parties, each with its own Airflow (home, SQLite database, API server, scheduler, triggerer), real Kafka and Spark.

One pair of Airflows serves the whole module. Jobs are posted to the guest's
REST API only; the host's runs are started by its listener from the guest's
signed invitation. The pipeline is align (PSI, real Spark) then a wait for
the peer, on a slice of the breast data, so each job is short.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path

import pytest
import yaml

from airflow_provider_powerfl.demo.airflow import LocalAirflow
from airflow_provider_powerfl.orchestration.rest import AirflowApiError

REPO = Path(__file__).resolve().parents[2]
PIPELINE = "powerfl_it_align"
PARTIES = {"10000": ("guest", "guest", 8181), "20000": ("host", "host", 8182)}
PIPELINE_YAML = {
    "dag_id": PIPELINE,
    "parties": ["10000=guest", "20000=host"],
    "defaults": {"spark": {"master": "local[1]", "conf": {"spark.ui.enabled": "false", "spark.driver.memory": "512m"}}},
    "accept_timeout": 300,
    "tasks": {
        "align": {"component": "align"},
        "peers_aligned": {"component": "wait_peers", "parameters": {"peer_task": "align", "timeout": 900}, "depends_on": ["align"]},
    },
}


@pytest.fixture(scope="module")
def parties(tmp_path_factory, kafka_brokers):
    """{"guest": LocalAirflow, "host": LocalAirflow, ...} with both healthy and the DAGs parsed."""
    from airflow_provider_powerfl.datasets.breast import write_breast_split
    from airflow_provider_powerfl.federation.keys import generate_party_keys

    root = tmp_path_factory.mktemp("orchestration")
    entries = {}
    for party_id, (role, broker, _) in PARTIES.items():
        _, public = generate_party_keys(root / "keys", party_id)
        entries[party_id] = {"role": role, "bootstrap_servers": kafka_brokers[broker], "public_key": str(public)}
    registry = root / "parties.yaml"
    registry.write_text(yaml.safe_dump({"parties": entries}))
    dags = root / "dags"
    (dags / "pipelines").mkdir(parents=True)
    shutil.copy(REPO / "dags" / "powerfl_pipeline_factory.py", dags)
    (dags / "pipelines" / "it_align.yaml").write_text(yaml.safe_dump(PIPELINE_YAML))
    data = write_breast_split(root / "data")

    airflows = {}
    for party_id, (role, _, port) in PARTIES.items():
        conn = {
            "conn_type": "powerfl",
            "host": entries[party_id]["bootstrap_servers"],
            "extra": {"party_id": party_id, "role": role, "registry_path": str(registry),
                      "private_key_path": str(root / "keys" / f"{party_id}.key")},
        }  # fmt: skip
        env = {"AIRFLOW_CONN_POWERFL_DEFAULT": json.dumps(conn), "PYTHONPATH": str(REPO)}
        airflows[role] = LocalAirflow(name=f"{role} {party_id}", home=root / role, port=port, dags_folder=dags, env=env)
    airflows["guest"].prepare()
    airflows["host"].prepare(template_db=airflows["guest"].home / "airflow.db")
    try:
        for airflow in airflows.values():
            airflow.start()
        for airflow in airflows.values():
            airflow.wait_healthy(timeout=300)
            with airflow.client() as client:
                _until(lambda c=client: _has_dags(c), 240, f"{airflow.name} to parse the DAGs:\n{airflow.log_tail('dag-processor')}")
        yield {**airflows, "root": root, "data": data, "registry": registry}
    finally:
        for airflow in airflows.values():
            airflow.stop()


def _has_dags(client) -> bool:
    try:
        client.dag(PIPELINE)
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
        "parties": ["10000=guest", "20000=host"],
        "common-args": {"work_dir": str(parties["root"] / "work")},
        "parties-args": {
            "10000": {"align": {"inputs": {"train": {"uri": str(data.guest_train), "format": "csv", "label_column": "y"}}}},
            "20000": {"align": {"inputs": {"train": {"uri": host_uri or str(data.host_train), "format": "csv"}}}},
        },
    }


def _log_text(airflow: LocalAirflow, run_id: str, task_id: str) -> str:
    path = airflow.task_log(PIPELINE, run_id, task_id)
    return path.read_text(errors="replace") if path.exists() else f"(no log {path})"


def _job(parties, conf):
    with parties["guest"].client() as client:
        run = client.trigger(PIPELINE, conf, run_id=conf["job_id"])
    assert run["dag_run_id"] == conf["job_id"]
    return conf["job_id"]


def _wait_both(parties, job_id, timeout=900):
    states = {}
    for role in ("guest", "host"):
        with parties[role].client() as client:
            _until(lambda c=client: c.find_run(PIPELINE, job_id), 300, f"the {role}'s run of {job_id}")
            states[role] = client.wait_run(PIPELINE, job_id, timeout=timeout, poll=3.0)["state"]
    return states


def test_a_job_triggered_through_rest_succeeds_at_both_parties(parties):
    job_id = f"it-ok-{uuid.uuid4().hex[:6]}"
    _job(parties, _conf(parties, job_id))
    states = _wait_both(parties, job_id)
    assert states == {"guest": "success", "host": "success"}, (
        f"{states}\n{_log_text(parties['guest'], job_id, 'align')[-3000:]}\n{_log_text(parties['host'], job_id, 'align')[-3000:]}"
    )
    with parties["host"].client() as client:
        run = client.run(PIPELINE, job_id)
        invite = client.xcom(PIPELINE, job_id, "invite")
    assert run["conf"]["initiator"] == "10000" and invite["initiator"] == "10000"
    with parties["guest"].client() as client:
        invite = client.xcom(PIPELINE, job_id, "invite")
        aligned = client.xcom(PIPELINE, job_id, "align")
    assert invite["invited"] == ["20000"] and invite["answers"]["20000"].startswith("run ")
    assert aligned["metrics"]["train_intersection"] > 300


def test_a_host_task_made_to_fail_fails_both_runs_with_the_hosts_reason(parties):
    job_id = f"it-fail-{uuid.uuid4().hex[:6]}"
    missing = str(parties["root"] / "no-such-host-file.csv")
    _job(parties, _conf(parties, job_id, host_uri=missing))
    states = _wait_both(parties, job_id, timeout=600)
    assert states == {"guest": "failed", "host": "failed"}
    guest_log = _log_text(parties["guest"], job_id, "align")
    assert "ended by party 20000" in guest_log and "no-such-host-file.csv" in guest_log, guest_log[-4000:]


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
    assert "run stopped at party 10000" in host_log, host_log[-4000:]


def test_a_conf_with_a_wrong_field_is_refused_at_trigger_time_naming_it(parties):
    conf = {**_conf(parties, f"it-bad-{uuid.uuid4().hex[:6]}"), "parties": ["10000:guest", "20000=host"]}
    with parties["guest"].client() as client, pytest.raises(AirflowApiError) as err:
        client.trigger(PIPELINE, conf, run_id=conf["job_id"])
    assert err.value.status == 400 and "parties" in str(err.value), str(err.value)


def test_invitations_signed_by_an_unknown_key_or_for_an_unknown_pipeline_are_refused(parties):
    from airflow_provider_powerfl.federation.events import EventReader
    from airflow_provider_powerfl.federation.keys import SigningKey
    from airflow_provider_powerfl.federation.registry import PartyRegistry
    from airflow_provider_powerfl.orchestration.invitation import INVITATION_TASK, Invitation, send_invitation

    registry = PartyRegistry.from_yaml(parties["registry"])
    forged_job, unknown_job = f"it-forged-{uuid.uuid4().hex[:6]}", f"it-nopipe-{uuid.uuid4().hex[:6]}"
    conf = _conf(parties, forged_job)
    send_invitation(registry, SigningKey.generate(), Invitation(forged_job, PIPELINE, conf, "10000", "20000", time.time()))
    guest_key = SigningKey.from_file(parties["root"] / "keys" / "10000.key")
    send_invitation(registry, guest_key, Invitation(unknown_job, "no_such_pipeline", {**conf, "job_id": unknown_job}, "10000", "20000", time.time()))

    with EventReader(registry, "10000", unknown_job) as reader:
        def refusal():
            return [e for e in reader.poll(1.0) if e.task == INVITATION_TASK and e.party_id == "20000"]

        (answer,) = _until(refusal, 300, "the host's answer to the invitation for an unknown pipeline", poll=0)
    assert answer.status == "failed" and "no_such_pipeline" in answer.reason
    with parties["host"].client() as client:
        assert client.find_run(PIPELINE, forged_job) is None
        assert client.find_run("no_such_pipeline", unknown_job) is None
        runs = client.get("/dags/powerfl_listener/dagRuns", order_by="-start_date", limit=20)["dag_runs"]
        outcomes = [o for r in runs for o in (client.xcom("powerfl_listener", r["dag_run_id"], "listen") or []) if r["state"] == "success"]
    forged = [o for o in outcomes if o["job_id"] == forged_job]
    assert forged and not forged[0]["accepted"] and "bad signature" in forged[0]["reason"], outcomes
