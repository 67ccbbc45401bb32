"""FederatedPeerSensor against a real broker, poke and deferred: a peer's failure, a timeout, a forged event."""

from __future__ import annotations

import time
import uuid

from test_operators import federation, party_env, run_dag_test, write_dag

from airflow_provider_powerfl.federation.envelope import new_nonce
from airflow_provider_powerfl.federation.events import StatusEvent, publish_event
from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.registry import PartyRegistry

SENSORS_DAG = """
    from airflow.sdk import DAG

    from airflow_provider_powerfl.sensors.peer import FederatedPeerSensor

    with DAG("powerfl_sensor_it", schedule=None) as dag:
        for mode in ("poke", "deferred"):
            options = {"deferrable": mode == "deferred", "poke_interval": 1, "poll_interval": 0.5}
            FederatedPeerSensor(task_id=f"peer_failed_{mode}", peer_task="train", timeout=120, **options)
            FederatedPeerSensor(task_id=f"timeout_{mode}", peer_task="predict", timeout=4, **options)
"""


def test_sensor_fails_at_once_on_a_peer_failure_and_on_timeout_names_party_and_event(tmp_path, kafka_brokers):
    registry_path = federation(tmp_path, kafka_brokers)
    registry = PartyRegistry.from_yaml(registry_path)
    job_id = f"it-sensor-{uuid.uuid4().hex[:8]}"
    host_key = SigningKey.from_file(tmp_path / "keys" / "20000.key")
    now, nonce = time.time(), new_nonce()
    publish_event(registry, host_key, StatusEvent(job_id, "20000", "train", "running", 1, None, now), ["10000"], nonce=nonce)
    publish_event(
        registry, host_key, StatusEvent(job_id, "20000", "train", "failed", 1, "inputs.train.uri: missing", now + 1), ["10000"],
        nonce=nonce,
    )  # fmt: skip
    # signed with a key the registry does not know for 20000: must be dropped, so predict still times out
    forged = StatusEvent(job_id, "20000", "predict", "success", 1, None, now)
    publish_event(registry, SigningKey.generate(), forged, ["10000"], nonce=nonce)

    dag_file = write_dag(tmp_path, "sensors", SENSORS_DAG)
    conf = {"job_id": job_id, "parties": ["10000=guest", "20000=host"], "nonce": nonce.hex()}
    result = run_dag_test(tmp_path, party_env(tmp_path, registry_path, "10000"), dag_file, "powerfl_sensor_it", conf)

    assert set(result["states"].values()) == {"failed"}, result["states"]
    output = result["output"]
    failure = f"party 20000 reports task 'train' of job '{job_id}' failed (attempt 1): inputs.train.uri: missing"
    timeout = f"timed out after 4s waiting for party 20000 to report success of task 'predict' in job '{job_id}'"
    assert output.count(failure) >= 2, output[-6000:]  # poke and deferred
    assert output.count(timeout) >= 2, output[-6000:]
    assert "running trigger in line" in output
    assert "bad signature" in output  # the forged event was seen and refused
