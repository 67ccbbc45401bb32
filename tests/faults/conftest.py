"""One harness for the fault tests: a guest and a host, each in its own network namespace with its own Kafka
broker, Airflow and Spark steps (tests/support/netns.py), and the model of one fault-free job to compare with.

The job is the smallest with a model: align (PSI) then hetero LR on breast, small keys. The parties' steps
judge a peer silent after SILENCE s (``common-args.silence_timeout``), so a cut longer than that fails the
job and a shorter one must not.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.netns import Network
from tests.support.ns_brokers import NamespacedBroker
from tests.support.ns_parties import namespaced_two_parties
from tests.support.parties import Party, TwoParties, pipeline_definition, until

PIPELINE = "powerfl_faults_lr"
WAITING = "powerfl_faults_lr_wait"  # the training with a deferred peer sensor beside it (in the triggerer)
ALIGN = "powerfl_faults_align"
SILENCE = 30.0  # seconds: longer than a broker's kill -9 and restart (~10-15 s here), far shorter than 600
ENDED = {"success", "failed"}
ORPHAN_CHECK = 15  # seconds between a scheduler's checks for a dead scheduler's tasks (Airflow's default: 300)
EPOCHS = 40  # of hetero LR on breast: ~0.7 s each here


def _only(guest: str, host: str, dag_id: str, task: str) -> dict[str, Any]:
    definition = pipeline_definition(guest, host, dag_id)
    definition["tasks"] = {task: {k: v for k, v in definition["tasks"][task].items() if k != "inputs_from"}}
    return definition


def train_pipeline(guest: str, host: str) -> dict[str, Any]:
    """hetero LR alone, on rows aligned once (ALIGN): PSI orders the rows anew in each run, so only a training
    on the same aligned rows (zero initial weights, a fixed batch order) can be compared bit for bit."""
    return _only(guest, host, PIPELINE, "train")


def waiting_pipeline(guest: str, host: str) -> dict[str, Any]:
    """The training and, beside it from the start, a deferrable sensor waiting in the triggerer for the peers' training."""
    definition = train_pipeline(guest, host)
    definition["dag_id"] = WAITING
    definition["tasks"]["peers_trained"] = {"component": "wait_peers", "parameters": {"peer_task": "train", "timeout": 900}}
    return definition


def align_pipeline(guest: str, host: str) -> dict[str, Any]:
    return _only(guest, host, ALIGN, "align")


@dataclass
class Harness:
    network: Network
    brokers: dict[str, NamespacedBroker]
    parties: TwoParties

    def party(self, role: str) -> Party:
        return getattr(self.parties, role)

    def call(self, role: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        party = self.party(role)
        return httpx.request(method, party.api + path, headers=party.headers(), timeout=60, **kwargs)

    aligned: dict[str, dict[str, Any]] | None = None  # role -> data spec of its aligned training rows

    def submit(self, job_id: str, pipeline: str = PIPELINE) -> str:
        """Start a job at the guest through flow-server: ALIGN on the breast split, else training on `aligned`."""
        # no DP noise: the same rows, the same model; EPOCHS so that a fault injected once training is under way
        # lands in it (3 epochs took 2 s, over before the cut or kill)
        parameters = self.parties.job_parameters(train={"epsilon": None, "max_iter": EPOCHS})
        parameters["common-args"]["silence_timeout"] = SILENCE
        for role in ("guest", "host"):
            args = parameters["parties-args"][self.party(role).party_id]
            args.pop("test-input")
            if pipeline != ALIGN:
                assert self.aligned, "the aligned rows come first (the `reference` fixture)"
                args["input"] = self.aligned[role]
        files = {"parameters": ("job.json", json.dumps(parameters), "application/json")}
        response = self.call("guest", "POST", f"/pipelines/{pipeline}/jobs", files=files, params={"job_id": job_id})
        assert response.status_code == 201, response.text
        return job_id

    def succeeded(self, job_id: str, timeout: float = 600, ended_at: dict[str, float] | None = None) -> None:
        views = self.wait_ended(job_id, timeout, ended_at)
        assert {r: v["state"] for r, v in views.items()} == {"guest": "success", "host": "success"}, views

    def view(self, role: str, job_id: str) -> dict[str, Any]:
        response = self.call(role, "GET", f"/jobs/{job_id}")
        return response.json() if response.status_code == 200 else {}

    def wait_training(self, job_id: str, timeout: float = 600) -> None:
        """Until the train step reports progress at both parties: its key exchange is done, the protocol under way."""

        def progress(role: str) -> Any:
            party = self.view(role, job_id).get("parties", {}).get(self.party(role).party_id, {})
            return (party.get("steps", {}).get("train") or {}).get("progress")

        until(lambda: all(progress(r) for r in ("guest", "host")), timeout,
              lambda: f"train to report progress at both parties of {job_id}", poll=1.0)  # fmt: skip

    def wait_ended(self, job_id: str, timeout: float, ended_at: dict[str, float] | None = None) -> dict[str, dict[str, Any]]:
        """Each party's view of the job once it ended at both (success or failed); `ended_at` gets, per party, the
        time (time.monotonic()) of the first poll that saw it ended there."""
        views: dict[str, dict[str, Any]] = {}
        ended_at = {} if ended_at is None else ended_at

        def ended() -> bool:
            views.update({r: self.view(r, job_id) for r in ("guest", "host")})
            for role, view in views.items():
                if view.get("state") in ENDED:
                    ended_at.setdefault(role, time.monotonic())
            return all(v.get("state") in ENDED for v in views.values())

        until(
            ended, timeout, lambda: f"job {job_id} to end at both parties: {[v.get('state') for v in views.values()]}", poll=1.0
        )
        return views

    def reasons(self, views: dict[str, dict[str, Any]]) -> dict[str, str]:
        """Per party, the failure reason its own view of the job gives for itself."""
        return {role: ((view.get("parties", {}).get(self.party(role).party_id) or {}).get("error") or {}).get("reason", "")
                for role, view in views.items()}  # fmt: skip

    def model_digests(self, job_id: str) -> dict[str, str]:
        """Each party's trained state (sha256 of its state.json, from the model's manifest) of the job's train step."""
        digests = {}
        for role in ("guest", "host"):
            response = self.call(role, "GET", f"/jobs/{job_id}/models")
            assert response.status_code == 200, response.text
            (model,) = response.json()["models"]
            manifest = Path(model["root"]) / model["model_id"] / f"v{model['version']}" / "model.json"
            digests[role] = json.loads(manifest.read_text())["state"]["sha256"]
        return digests


@pytest.fixture(scope="session")
def harness(tmp_path_factory) -> Iterator[Harness]:
    pipelines = {f"{PIPELINE}.yaml": train_pipeline, f"{WAITING}.yaml": waiting_pipeline, f"{ALIGN}.yaml": align_pipeline}
    env = {
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",  # a lost task is noticed in 60 s, not 5 min
        # a scheduler killed outright leaves its running tasks to the next one, which resets them (a new try) only
        # once the dead one's heartbeat is 30 s old ([scheduler] scheduler_health_check_threshold) at an orphan
        # check: every 300 s by default, so a try 2 came 5 min after the restart; see docs/reliability.md
        "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": str(ORPHAN_CHECK),
    }
    policy = {"max_epsilon": None}  # lets the jobs train without label noise, so that their models compare
    with namespaced_two_parties(tmp_path_factory.mktemp("faults"), pipelines, env, policy=policy) as world:
        yield Harness(world.network, world.brokers, world.parties)


@pytest.fixture(scope="session")
def reference(harness: Harness) -> dict[str, str]:
    """The breast split aligned once, then the fault-free training's model digests at each party."""
    align = harness.submit("faults-align", ALIGN)
    harness.succeeded(align)
    harness.aligned = {}
    for role in ("guest", "host"):
        rows = harness.parties.work_dir / align / harness.party(role).party_id / "align" / "result.json"
        harness.aligned[role] = json.loads(rows.read_text())["outputs"]["train"]
    job_id = harness.submit("faults-reference")
    harness.succeeded(job_id)
    return harness.model_digests(job_id)
