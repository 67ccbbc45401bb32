"""Two parties' Airflow 3 with the PowerFL plugin, for tests that drive flow-server or the dashboard over HTTP.

Each party gets demo.airflow's LocalAirflow (api-server, scheduler, dag-processor, triggerer; SQLite, own
home and free ports), its own DAGs folder (the repository's pipeline factory plus `pipelines`, written as
YAML files), its own ``powerfl`` connection (the shared brokers, this session's keys and registry, a policy
that lets the other party start jobs and keeps data and outputs under `root`) and the breast-cancer data
split by columns. Party ids are drawn per session, so sessions sharing the brokers never see each other's
invitations. Use it from a module-scoped fixture::

    @pytest.fixture(scope="module")
    def parties(tmp_path_factory, kafka_brokers):
        with two_parties(tmp_path_factory.mktemp("flow"), kafka_brokers) as started:
            yield started

    parties.guest.api            # "http://127.0.0.1:<port>/flow-server"
    parties.guest.dashboard      # "http://127.0.0.1:<port>/powerfl/"
    parties.guest.headers()      # {"Authorization": "Bearer <JWT>"}
    parties.job_parameters()     # the seed's job parameters for PIPELINE (as YAML: yaml.safe_dump of it)

The pipelines are deployed with the DAGs (so each party's listener knows them from its first run);
pushing the same pipeline again through ``POST /flow-server/pipelines`` is accepted unchanged.
"""

from __future__ import annotations

import json
import secrets
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from airflow_provider_powerfl.orchestration.rest import AirflowApiError, AirflowRestClient
from demo.airflow import USER, LocalAirflow, free_ports, listening

REPO = Path(__file__).resolve().parents[2]
PIPELINE = "powerfl_it_flow_lr"
KEY_LENGTH = 512  # the tests' floor (POWERFL_INSECURE_TEST_KEYS=1): a real job in under a minute of training
TRAINING = {"key_length": KEY_LENGTH, "max_iter": 3, "batch_size": 128, "learning_rate": 0.15, "random_state": 0}


def pipeline_definition(guest: str, host: str, dag_id: str = PIPELINE) -> dict[str, Any]:
    """The smallest pipeline with every kind of result: align, hetero LR train, joint predict (metrics), summary."""
    return {
        "dag_id": dag_id,
        "description": "flow-server tests: align, hetero LR, predict and evaluate",
        "parties": [f"{guest}=guest", f"{host}=host"],
        "accept_timeout": 300,
        "defaults": {
            "spark": {
                "master": "local[1]",
                "conf": {"spark.ui.enabled": "false", "spark.driver.memory": "512m", "spark.sql.shuffle.partitions": "2"},
            }
        },
        "tasks": {
            "align": {"component": "align"},
            "train": {"component": "train", "parameters": {"algorithm": "hetero_lr"}, "inputs_from": ["align"]},
            "predict": {"component": "predict", "inputs_from": ["align", "train"]},
            "peers_predicted": {
                "component": "wait_peers",
                "parameters": {"peer_task": "predict", "timeout": 900},
                "depends_on": ["predict"],
            },
            "summary": {
                "component": "summary",
                "parameters": {"train_task": "train", "predict_task": "predict"},
                "depends_on": ["peers_predicted"],
            },
        },
    }


@dataclass(frozen=True)
class Party:
    """One party: its id, role and Airflow; URLs of its api-server, flow-server and dashboard; its admin login."""

    party_id: str
    role: str
    airflow: LocalAirflow

    @property
    def url(self) -> str:
        return self.airflow.url

    @property
    def api(self) -> str:
        return f"{self.url}/flow-server"

    @property
    def dashboard(self) -> str:
        return f"{self.url}/powerfl/"

    @property
    def username(self) -> str:
        return USER

    @property
    def password(self) -> str:
        return self.airflow.password

    @property
    def pipelines_dir(self) -> Path:
        return self.airflow.dags_folder / "pipelines"

    def token(self) -> str:
        """A fresh JWT from Airflow's ``POST /auth/token`` (the same tokens as ``/api/v2``)."""
        with AirflowRestClient(self.url, self.username, self.password) as client:
            return client.token()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}

    def client(self) -> AirflowRestClient:
        """An ``/api/v2`` client logged in as the admin."""
        return self.airflow.client()


@dataclass(frozen=True)
class TwoParties:
    """The guest and the host, their shared registry and data; `root` holds everything of the session."""

    guest: Party
    host: Party
    root: Path
    registry: Path
    data: Any  # datasets.breast.VerticalSplit: guest_train/guest_test/host_train/host_test CSV paths

    @property
    def parties(self) -> tuple[Party, Party]:
        return self.guest, self.host

    @property
    def work_dir(self) -> Path:
        return self.root / "work"

    def pipeline(self, dag_id: str = PIPELINE) -> dict[str, Any]:
        return pipeline_definition(self.guest.party_id, self.host.party_id, dag_id)

    def job_parameters(self, train: Mapping[str, Any] | None = None, host_input: str | None = None) -> dict[str, Any]:
        """The seed's job parameters for PIPELINE: `train` overrides TRAINING; `host_input` replaces the host's data."""
        return {
            "parties": [f"{self.guest.party_id}=guest", f"{self.host.party_id}=host"],
            "common-args": {"spark-master-name": "local", "train": {**TRAINING, **(train or {})}},
            "parties-args": {
                self.guest.party_id: {
                    "input": {"uri": str(self.data.guest_train), "format": "csv", "label_column": "y"},
                    "test-input": {"uri": str(self.data.guest_test), "format": "csv", "label_column": "y"},
                    "output": str(self.work_dir),
                },
                self.host.party_id: {
                    "input": host_input or str(self.data.host_train),
                    "test-input": str(self.data.host_test),
                    "output": str(self.work_dir),
                    "hadoop-user-name": "fl",
                },
            },
        }


def _connection(
    root: Path,
    registry: Path,
    party_id: str,
    role: str,
    peers: list[str],
    broker: str,
    policy: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "conn_type": "powerfl",
        "host": broker,
        "extra": {
            "party_id": party_id,
            "role": role,
            "registry_path": str(registry),
            "private_key_path": str(root / "keys" / f"{party_id}.key"),
            "runtime": "local",
            "policy": {
                "allowed_parties": peers,
                "min_key_length": KEY_LENGTH,
                "input_prefixes": [str(root)],
                "output_dir": str(root),
                **(policy or {}),
            },
            **(extra or {}),
        },
    }


def _airflow(root: Path, party_id: str, role: str, conn: dict[str, Any], ports: Iterator[int],
             options: Mapping[str, Any] | None = None) -> LocalAirflow:  # fmt: skip
    dags = root / role / "dags"
    (dags / "pipelines").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dags" / "powerfl_pipeline_factory.py", dags)
    env = {
        "AIRFLOW_CONN_POWERFL_DEFAULT": json.dumps(conn),
        "PYTHONPATH": str(REPO),
        "POWERFL_INSECURE_TEST_KEYS": "1",  # KEY_LENGTH is below the product's floor
        # the factory's parse takes 30-60 s on a loaded 2-core machine: not a timeout, and its DAGs stay active
        "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "300",
        "AIRFLOW__DAG_PROCESSOR__STALE_DAG_THRESHOLD": "600",
        **(options or {}).get("env", {}),
    }
    return LocalAirflow(
        **{k: v for k, v in (options or {}).items() if k != "env"},
        name=f"{role} {party_id}",
        home=root / role / "airflow",
        port=next(ports),
        dags_folder=dags,
        env=env,
        log_ports=(next(ports), next(ports)),
    )


def until(check: Callable[[], Any], timeout: float, what: str | Callable[[], str], poll: float = 2.0) -> Any:
    """`check()`'s first truthy value; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what() if callable(what) else what}")
        time.sleep(poll)


def has_dags(party: Any, dag_ids: list[str]) -> bool:
    """Whether a party's Airflow (anything with ``client()``) has parsed every DAG of `dag_ids`."""
    with party.client() as client:
        try:
            for dag_id in dag_ids:
                client.dag(dag_id)
        except AirflowApiError:
            return False
    return True


_MIGRATED: list[Path] = []  # the session's first freshly migrated Airflow database, before any Airflow ran on it


def prepare_airflows(root: Path, *airflows: LocalAirflow) -> None:
    """Each Airflow's home and database: a copy of the session's first migrated one (each ``airflow db migrate``
    costs seconds of CPU; every module's parties start from the same empty schema)."""
    if not _MIGRATED:
        airflows[0].prepare()
        _MIGRATED.append(shutil.copyfile(airflows[0].home / "airflow.db", root / "airflow-migrated.db"))
        airflows = airflows[1:]
    for airflow in airflows:
        airflow.prepare(template_db=_MIGRATED[0])


@contextmanager
def two_parties(
    root: Path,
    brokers: Mapping[str, str],
    pipelines: Mapping[str, Callable[[str, str], dict[str, Any]]] | None = None,
    timeout: float = 300.0,
    wait_listener: bool = True,
    airflow_options: Mapping[str, Mapping[str, Any]] | None = None,
    policy: Mapping[str, Any] | None = None,
    connection_extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> Iterator[TwoParties]:
    """Start a guest and a host on `brokers` ``{"guest": addr, "host": addr}`` (the ``kafka_brokers`` fixture).

    `pipelines`: file name -> ``f(guest id, host id)`` giving a pipeline definition deployed at both parties
    (default: PIPELINE). Yields once both Airflows are healthy, have parsed the DAGs and (if `wait_listener`)
    the host's listener waits for invitations; without that wait a job's invitation is simply answered when
    the listener's first run comes (within the pipeline's accept_timeout). `airflow_options`: role -> extra
    LocalAirflow arguments (``env`` is added to the party's; tests/support/netns.py places a party in its own
    network namespace so). `policy`: privacy policy fields both parties get on top of the tests' (e.g.
    ``require_agreement``). `connection_extra`: role -> fields added to that party's ``powerfl`` connection (e.g.
    ``tee_policy_path``). Stops both (and their Spark steps) on the way out.
    """
    from airflow_provider_powerfl.datasets.breast import write_breast_split
    from airflow_provider_powerfl.federation.keys import generate_party_keys

    session = secrets.randbelow(90000) + 10000
    ids = {"guest": f"1{session}", "host": f"2{session}"}
    entries = {}
    for role, party_id in ids.items():
        _, public = generate_party_keys(root / "keys", party_id)
        entries[party_id] = {"role": role, "bootstrap_servers": brokers[role], "public_key": str(public)}
    registry = root / "parties.yaml"
    registry.write_text(yaml.safe_dump({"parties": entries}))
    data = write_breast_split(root / "data")
    ports = iter(free_ports(6))
    airflows = {
        role: _airflow(root, pid, role, _connection(root, registry, pid, role, [p for p in ids.values() if p != pid],
                                                    brokers[role], policy, (connection_extra or {}).get(role)), ports,
                         (airflow_options or {}).get(role, {}))
        for role, pid in ids.items()
    }  # fmt: skip
    definitions = {name: make(ids["guest"], ids["host"]) for name, make in (pipelines or {f"{PIPELINE}.yaml": _default}).items()}
    for airflow in airflows.values():
        for name, definition in definitions.items():
            (airflow.dags_folder / "pipelines" / name).write_text(yaml.safe_dump(definition, sort_keys=False))
    dag_ids = [d["dag_id"] for d in definitions.values()] + ["powerfl_listener"]
    try:
        prepare_airflows(root, *airflows.values())
        for airflow in airflows.values():
            airflow.start()
        for airflow in airflows.values():
            airflow.wait_healthy(timeout=timeout)
        for airflow in airflows.values():
            until(lambda a=airflow: has_dags(a, dag_ids), timeout,
                  lambda a=airflow: f"{a.name} to parse {dag_ids}:\n{a.log_tail('dag-processor')}")  # fmt: skip
        with airflows["host"].client() as client:
            until(lambda: not wait_listener or listening(client), timeout,
                  lambda: f"the host's listener to wait for invitations:\n{airflows['host'].log_tail('scheduler')}")  # fmt: skip
        parties = {role: Party(ids[role], role, airflows[role]) for role in ids}
        yield TwoParties(parties["guest"], parties["host"], root, registry, data)
    finally:
        for airflow in airflows.values():
            airflow.stop()


def _default(guest: str, host: str) -> dict[str, Any]:
    return pipeline_definition(guest, host)
