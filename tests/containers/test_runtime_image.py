"""The runtime image runs a real step as the Kubernetes runtime's pod does: PSI alignment of two parties, each
party's step in its own container of the image (its JRE, pyspark and provider, as the image's airflow user),
talking through brokers of the Kafka image."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from airflow_provider_powerfl.datasets.breast import write_breast_split
from airflow_provider_powerfl.runtimes.command import SparkSettings, step_command
from airflow_provider_powerfl.runtimes.kubernetes import ENTRYPOINT, SPEC_ENV
from tests.containers.engine import GUEST, HOST, Containers, Images, docker
from tests.support.launch import SPARK_CONF, write_job

pytestmark = pytest.mark.integration

ROLES = {GUEST: "guest", HOST: "host"}
IMAGE_JOBS_DIR = "/opt/powerfl/venv/lib/python3.11/site-packages/spark_jobs"  # the wheel's, inside the image


def start_step(containers: Containers, images: Images, network: str, party: str, spec: Path, work: Path) -> str:
    """One party's align step as its pod runs it: the spec in the environment, spark-submit's argv as arguments."""
    argv = step_command("align", f"powerfl-align-{party}", SparkSettings(master="local[2]", conf=SPARK_CONF,
                                                                         jobs_dir=IMAGE_JOBS_DIR))  # fmt: skip
    options = ("-e", f"{SPEC_ENV}={spec.read_text()}", "-e", f"POWERFL_WORK_DIR={work / 'run' / party}",
               "-e", "POWERFL_INSECURE_TEST_KEYS=1", "-v", f"{work}:{work}")  # fmt: skip
    return containers.start(f"step-{party}", images.runtime, network, "/bin/sh", "-c", ENTRYPOINT, "powerfl-step", *argv,
                            options=options)  # fmt: skip


@pytest.mark.timeout(900)
def test_two_parties_align_in_runtime_containers(
    images: Images, container_brokers: tuple[Containers, dict[str, str]], containers: Containers, tmp_path: Path
) -> None:
    kafka, brokers = container_brokers
    network = kafka.networks[0]  # the steps reach the brokers as the pods of a party would
    work = tmp_path / "work"
    split = write_breast_split(work / "data")
    inputs = {GUEST: {"train": {"uri": str(split.guest_train), "format": "csv", "label_column": "y"}},
              HOST: {"train": {"uri": str(split.host_train), "format": "csv"}}}  # fmt: skip
    specs = write_job(work, f"ct-align-{uuid.uuid4().hex[:8]}", brokers, ROLES, inputs, "align", {"timeout": 300})
    subprocess.run(["chmod", "-R", "a+rwX", str(work)], check=True)  # the image's airflow user (uid 50000) reads and writes it

    steps = {party: start_step(containers, images, network, party, spec, work) for party, spec in specs.items()}
    codes = {party: docker("wait", name, timeout=600) for party, name in steps.items()}

    for party, name in steps.items():
        assert codes[party] == "0", f"party {party}'s step exited {codes[party]}:\n{containers.logs(name)}"
    results = {party: json.loads((work / party / "align" / "result.json").read_text()) for party in specs}
    ids = {party: pq.read_table(result["outputs"]["train"]["uri"]).column("id").to_pylist() for party, result in results.items()}
    assert ids[GUEST] == ids[HOST] and len(ids[GUEST]) == split.shared_train_ids  # the same ids in the same order
    assert results[GUEST]["metrics"]["train_intersection"] == split.shared_train_ids


def test_runtime_image_runs_airflow_with_the_provider_as_the_airflow_user(images: Images) -> None:
    out = docker("run", "--rm", "--network", "none", images.runtime, "sh", "-c",
                 "id -u; airflow version; airflow providers list; java -version 2>&1", timeout=300)  # fmt: skip
    uid, version, *rest = out.splitlines()
    assert uid == "50000"  # the chart's pods run it as uid 50000: nothing may need root
    assert version.startswith("3.")
    assert any(line.startswith("airflow-provider-powerfl ") for line in rest)
    assert 'openjdk version "17.' in out
