"""A dishonest host against the real guest train step: spark-submit, real Kafka, the product's own code.

The host runs the train step in this process, with ``Party.send`` altered to put the guest's own
modulus n in place of the first ciphertext of its masked gradient: the one value whose decryption
used to factor the guest's key. The guest, a separate spark-submit process, must refuse it before
decrypting, exit with the step error naming the host, the message and its key, leave no output
behind, and stop the host at once (PeerFailed), not after a timeout.
"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from airflow_provider_powerfl.federation.errors import PeerFailed
from airflow_provider_powerfl.federation.party import Party
from airflow_provider_powerfl.jobs.contract import EXIT_STEP_ERROR
from airflow_provider_powerfl.jobs.params import validate_step_params
from airflow_provider_powerfl.jobs.spec import TaskSpec
from tests.support.launch import run_parties, write_job

GUEST, HOST = "10000", "20000"
ROLES = {GUEST: "guest", HOST: "host"}
PARAMS = {"key_length": 1024, "max_iter": 2, "batch_size": 128, "random_state": 0, "timeout": 120}  # test-only key


@pytest.mark.timeout(900)
def test_guest_step_refuses_its_own_modulus_from_a_dishonest_host(kafka_brokers, spark, datasets, tmp_path: Path, monkeypatch):
    fate = datasets / "fate"
    inputs = {
        GUEST: {"train": {"uri": str(fate / "breast_hetero_guest.csv"), "format": "csv", "label_column": "y"}},
        HOST: {"train": {"uri": str(fate / "breast_hetero_host.csv"), "format": "csv"}},
    }
    brokers = {GUEST: kafka_brokers["guest"], HOST: kafka_brokers["host"]}
    specs = write_job(tmp_path, f"adv-{uuid.uuid4().hex[:8]}", brokers, ROLES, inputs, "train", PARAMS)

    guest_modulus: list[int] = []
    crafted: list[int] = []
    real_send, real_recv = Party.send, Party.recv

    def recv(self, src, tag, timeout=None):
        obj = real_recv(self, src, tag, timeout)
        if tag == "hetero_lr.setup":
            guest_modulus.append(int(obj["public_key"], 16))  # public: every host gets it
        return obj

    def send(self, dst, tag, obj):
        if tag == "hetero_lr.host_gradient" and not crafted:
            obj = obj.copy()
            obj[0] = guest_modulus[0]
            crafted.append(guest_modulus[0])
        real_send(self, dst, tag, obj)

    monkeypatch.setattr(Party, "recv", recv)
    monkeypatch.setattr(Party, "send", send)

    from spark_jobs.train import train_step

    with ThreadPoolExecutor(1) as pool:  # the honest guest: its own spark-submit process
        guest = pool.submit(run_parties, "train", {GUEST: specs[GUEST]}, 600)
        started = time.monotonic()
        with pytest.raises(PeerFailed, match=f"party {GUEST} failed \\(MalformedCiphertextError\\)"):
            host = TaskSpec.load(specs[HOST])
            train_step(spark, host, validate_step_params("train", host.params))
        host_stopped = time.monotonic() - started
        run = guest.result()[GUEST]

    assert crafted, "the host never sent its gradient: the test proves nothing"
    assert run.returncode == EXIT_STEP_ERROR, run.log[-3000:]
    assert f"party {HOST} sent malformed hetero_lr.host_gradient" in run.error and "shares a factor with n" in run.error
    assert "Traceback" not in run.error
    assert not (tmp_path / GUEST / "train").exists() or not any((tmp_path / GUEST / "train").iterdir())
    assert not (tmp_path / HOST / "train" / "model").exists()
    assert host_stopped < 300, f"the host took {host_stopped:.0f} s to learn of the guest's refusal"
    assert json.loads(specs[GUEST].read_text())["params"]["key_length"] == 1024
