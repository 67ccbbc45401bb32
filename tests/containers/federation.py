"""Two parties in containers, each its own federation node: Airflow 3 (the runtime image) and Kafka (the Kafka
image) on the party's own Docker network, the parties joined only through their brokers.

    net-10000 (internal): airflow-10000, kafka-10000, kafka-20000
    net-20000 (internal): airflow-20000, kafka-20000, kafka-10000

Each broker is on both networks and advertises its container name, which Docker's DNS resolves on each network
to its address there, so both Airflows (and the steps they run) reach both brokers, as the registry says. The
Airflows share no network. The project's engine has no iptables (scripts/docker), so Docker does not enforce
that isolation itself (the host forwards between its bridges): every container's default route is cut from the
host (``Containers.cut_default_route``), leaving each one only its own networks' subnets.

Each party's files are one host directory mounted at ``/srv/powerfl`` (owned by the image's airflow user):
``parties.yaml`` (the registry), ``keys/<id>.key``, ``data/``, ``work/``, ``pipelines/`` and ``airflow/``
(AIRFLOW_HOME: SQLite database, component logs, task logs). The ``powerfl`` connection names these paths; the
host reaches each api-server at its container address (nothing is published on the host's ports).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from airflow_provider_powerfl.datasets.breast import write_breast_split
from airflow_provider_powerfl.federation.keys import generate_party_keys
from airflow_provider_powerfl.orchestration.rest import AirflowApiError, AirflowRestClient
from demo.airflow import USER, listening
from tests.containers.engine import GUEST, HOST, Containers, DockerError, Images, docker
from tests.support.parties import KEY_LENGTH, PIPELINE, TRAINING, has_dags, pipeline_definition, until

MOUNT = "/srv/powerfl"  # each party's directory inside its containers
API_PORT = 8080
AIRFLOW_UID = 50000
ROLES = {GUEST: "guest", HOST: "host"}
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
# the four components of one Airflow in one container; the container ends when one of them does
RUN_AIRFLOW = (
    'for c in api-server scheduler dag-processor triggerer; do airflow "$c" >"$AIRFLOW_HOME/$c.log" 2>&1 & done; '
    'wait -n; echo "an Airflow component exited" >&2; exit 1'
)


@dataclass(frozen=True)
class ContainerParty:
    """One party: its directory on the host, its containers and network, its api-server's URL and admin login."""

    party_id: str
    root: Path
    airflow: str  # container name
    kafka: str
    network: str
    url: str
    password: str

    def client(self) -> AirflowRestClient:
        return AirflowRestClient(self.url, USER, self.password)

    def log_tail(self, component: str, lines: int = 40) -> str:
        path = self.root / "airflow" / f"{component}.log"
        text = path.read_text(errors="replace").splitlines() if path.exists() else [f"(no {path})"]
        return "\n".join(f"    {line}" for line in text[-lines:])

    def task_logs(self, run_id: str, lines: int = 30) -> str:
        """The tails of this run's task logs, the newest last."""
        found = sorted((self.root / "airflow" / "logs").glob(f"dag_id=*/run_id={run_id}/task_id=*/attempt=*.log"),
                       key=lambda p: p.stat().st_mtime)  # fmt: skip
        return "\n".join(f"  {p.parent.name}:\n" + "\n".join(p.read_text(errors="replace").splitlines()[-lines:]) for p in found)


def provision(root: Path, brokers: dict[str, str]) -> dict[str, Path]:
    """Each party's directory: registry, its key, its half of the breast data, the pipeline; ``{party id: dir}``."""
    split = write_breast_split(root / "split")
    data = {GUEST: (split.guest_train, split.guest_test), HOST: (split.host_train, split.host_test)}
    keys = root / "keys"
    entries = {}
    for party_id in ROLES:
        _, public = generate_party_keys(keys, party_id)
        entries[party_id] = {"role": ROLES[party_id], "bootstrap_servers": brokers[party_id], "public_key": public.read_text()}
    dirs = {}
    for party_id in ROLES:
        party = dirs[party_id] = root / party_id
        for sub in ("keys", "data", "work", "pipelines", "airflow"):
            (party / sub).mkdir(parents=True)
        (party / "parties.yaml").write_text(yaml.safe_dump({"parties": entries}))
        shutil.copy(keys / f"{party_id}.key", party / "keys")  # its own private key only
        shutil.copy(data[party_id][0], party / "data" / "train.csv")
        shutil.copy(data[party_id][1], party / "data" / "test.csv")
        # deployed with the DAGs, as every party does: the invited party's listener must know the pipeline
        (party / "pipelines" / f"{PIPELINE}.yaml").write_text(yaml.safe_dump(pipeline_definition(GUEST, HOST), sort_keys=False))
    return dirs


def connection(party_id: str) -> dict[str, Any]:
    """The party's ``powerfl`` connection as the chart writes it: paths only, the local runtime, its policy."""
    return {
        "conn_type": "powerfl",
        "extra": {
            "party_id": party_id,
            "role": ROLES[party_id],
            "registry_path": f"{MOUNT}/parties.yaml",
            "private_key_path": f"{MOUNT}/keys/{party_id}.key",
            "runtime": "local",
            "policy": {
                "allowed_parties": [p for p in ROLES if p != party_id],
                "min_key_length": KEY_LENGTH,
                "input_prefixes": [f"{MOUNT}/data"],
                "output_dir": f"{MOUNT}/work",
            },
        },
    }


def airflow_env(party_id: str, password: str) -> dict[str, str]:
    """One party's Airflow in its container: SQLite and LocalExecutor under AIRFLOW_HOME, the API on :8080."""
    home = f"{MOUNT}/airflow"
    return {
        "AIRFLOW_HOME": home,
        "POWERFL_PIPELINES_DIR": f"{MOUNT}/pipelines",
        "AIRFLOW_CONN_POWERFL_DEFAULT": json.dumps(connection(party_id)),
        "POWERFL_INSECURE_TEST_KEYS": "1",  # KEY_LENGTH is below the product's floor
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "6",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{API_PORT}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": f"{home}/passwords.json",
        "AIRFLOW__API__HOST": "0.0.0.0",
        "AIRFLOW__API__PORT": str(API_PORT),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
        "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "300",
        "AIRFLOW__DAG_PROCESSOR__STALE_DAG_THRESHOLD": "600",
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "600",
    }


def _env_options(env: dict[str, str], party_dir: Path) -> tuple[str, ...]:
    options = ["-v", f"{party_dir}:{MOUNT}"]
    for name, value in env.items():
        options += ["-e", f"{name}={value}"]
    return tuple(options)


def start_parties(containers: Containers, images: Images, root: Path) -> dict[str, ContainerParty]:
    """Both parties' networks, brokers and Airflows, their default routes cut; once each Airflow's API answers."""
    networks = {party_id: containers.network(f"net-{party_id}", "--internal") for party_id in ROLES}
    names = {party_id: f"{containers.prefix}-kafka-{party_id}" for party_id in ROLES}
    for party_id in ROLES:
        other = networks[HOST if party_id == GUEST else GUEST]
        containers.kafka(f"kafka-{party_id}", images.kafka, networks[party_id], also=(other,),
                         options=("-e", f"KAFKA_ADVERTISED_HOST={names[party_id]}"))  # fmt: skip
        containers.cut_default_route(names[party_id])
    dirs = provision(root, {party_id: f"{name}:9092" for party_id, name in names.items()})
    passwords = {party_id: secrets.token_urlsafe(12) for party_id in ROLES}
    for party_id, party_dir in dirs.items():
        (party_dir / "airflow" / "passwords.json").write_text(json.dumps({USER: passwords[party_id]}))
    subprocess.run(["chown", "-R", f"{AIRFLOW_UID}:0", str(root)], check=True)  # the image's airflow user owns them
    # one migration, copied: both databases start as the same fresh schema
    docker("run", "--rm", "--network", "none", *_env_options(airflow_env(GUEST, ""), dirs[GUEST]), images.runtime,
           "airflow", "db", "migrate", timeout=600)  # fmt: skip
    copy = shutil.copy2(dirs[GUEST] / "airflow" / "airflow.db", dirs[HOST] / "airflow" / "airflow.db")
    os.chown(copy, AIRFLOW_UID, 0)
    parties = {}
    for party_id, party_dir in dirs.items():
        env = airflow_env(party_id, passwords[party_id])
        name = containers.start(f"airflow-{party_id}", images.runtime, networks[party_id], "bash", "-c", RUN_AIRFLOW,
                                options=_env_options(env, party_dir))  # fmt: skip
        containers.cut_default_route(name)
        url = f"http://{containers.ip(name, networks[party_id])}:{API_PORT}"
        parties[party_id] = ContainerParty(
            party_id, party_dir, name, names[party_id], networks[party_id], url, passwords[party_id]
        )
    return parties


def wait_ready(parties: dict[str, ContainerParty], timeout: float) -> None:
    """Both Airflows healthy, both with the pipeline's and the listener's DAGs; the host's listener waiting."""
    dag_ids = [PIPELINE, "powerfl_listener"]
    for party in parties.values():
        until(lambda p=party: _healthy(p), timeout, lambda p=party: f"{p.airflow} to be healthy:\n{p.log_tail('api-server')}")
    for party in parties.values():
        until(lambda p=party: _has_dags(p, dag_ids), timeout,
              lambda p=party: f"{p.airflow} to parse {dag_ids}:\n{p.log_tail('dag-processor')}")  # fmt: skip
    host = parties[HOST]
    with host.client() as client:
        until(lambda: listening(client), timeout, lambda: f"the host's listener to wait:\n{host.log_tail('scheduler')}")


def _running(party: ContainerParty) -> None:
    if docker("inspect", "-f", "{{.State.Running}}", party.airflow) != "true":
        logs = "\n".join(f"  {c}:\n{party.log_tail(c, 15)}" for c in COMPONENTS)
        raise DockerError(f"{party.airflow} exited:\n{logs}")


def _healthy(party: ContainerParty) -> bool:
    _running(party)
    with AirflowRestClient(party.url, timeout=10) as client:
        try:
            health = client.health()
        except AirflowApiError:
            return False
    return all(part.get("status") == "healthy" for part in health.values() if isinstance(part, dict))


def _has_dags(party: ContainerParty, dag_ids: list[str]) -> bool:
    _running(party)
    return has_dags(party, dag_ids)


def connects(container: str, host: str, port: int) -> str:
    """From inside ``container``: "ok" if a TCP connection to ``host:port`` opens, else the error's text."""
    probe = (
        "import socket, sys\n"
        "try:\n    socket.create_connection((sys.argv[1], int(sys.argv[2])), 5).close(); print('ok')\n"
        "except OSError as exc:\n    print(type(exc).__name__, exc)\n"
    )
    return docker("exec", container, "python3", "-c", probe, host, str(port), timeout=60)


def curl(*args: str) -> tuple[int, Any]:
    """``curl -sS ARGS``: the status code and the JSON body."""
    proc = subprocess.run(
        ["curl", "-sS", "-m", "120", "-w", "\n%{http_code}", *args], capture_output=True, text=True, timeout=150
    )
    if proc.returncode != 0:
        raise AssertionError(f"curl {' '.join(args[:3])} ... exited {proc.returncode}: {proc.stderr}")
    body, _, code = proc.stdout.rpartition("\n")
    try:
        return int(code), json.loads(body)
    except ValueError:
        return int(code), body


def job_parameters() -> dict[str, Any]:
    """The seed's job parameters for PIPELINE, with each party's paths inside its own containers."""
    return {
        "parties": [f"{GUEST}=guest", f"{HOST}=host"],
        "common-args": {"spark-master-name": "local", "train": TRAINING},
        "parties-args": {
            GUEST: {"input": {"uri": f"{MOUNT}/data/train.csv", "format": "csv", "label_column": "y"},
                    "test-input": {"uri": f"{MOUNT}/data/test.csv", "format": "csv", "label_column": "y"},
                    "output": f"{MOUNT}/work"},
            HOST: {"input": f"{MOUNT}/data/train.csv", "test-input": f"{MOUNT}/data/test.csv", "output": f"{MOUNT}/work"},
        },
    }  # fmt: skip


def wait_job(party: ContainerParty, token: Callable[[], str], job_id: str, timeout: float) -> dict[str, Any]:
    """``GET /flow-server/jobs/{job_id}`` at ``party`` until the job has ended there; the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        _running(party)
        code, job = curl(f"{party.url}/flow-server/jobs/{job_id}", "-H", f"Authorization: Bearer {token()}")
        if code == 200 and job["state"] in ("success", "failed"):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} not ended at {party.party_id} in {timeout:g}s ({code}: {job}):\n"
                                 f"{party.task_logs(job_id)}")  # fmt: skip
        time.sleep(3)
