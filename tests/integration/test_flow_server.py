"""flow-server's REST API in two parties' real Airflow 3 api-servers, with real Kafka and Spark (tests/support/parties.py).

The seed's two calls as they are (multipart ``file=`` then ``parameters=``, plus Airflow's bearer token) start
a real hetero-LR job at the guest; its host runs it from the guest's invitation. While it runs, the other
tests check the refusals and drive a second job through pause, resume and stop; the job's results are
checked last. One pair of Airflows serves the module.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
import uuid

import httpx
import pytest
import yaml

from tests.support.parties import PIPELINE, Party, TwoParties, pipeline_definition, two_parties, until
from tests.support.tee_party import (
    TEE_PIPELINE,
    centralized_auc,
    deploy_enclave,
    enclave_party_id,
    tee_connections,
    tee_job_parameters,
    tee_pipeline,
)

pytestmark = pytest.mark.timeout(900)  # the fixture starts two Airflows; every wait below is bounded
ENCLAVE = enclave_party_id()  # the enclave host the guest operates in the example TEE pipeline (dags/pipelines/tee_lr.yaml)


@pytest.fixture(scope="module")
def parties(tmp_path_factory, kafka_brokers, measured_enclave):
    root = tmp_path_factory.mktemp("flow_server")
    pipelines = {f"{PIPELINE}.yaml": pipeline_definition, "tee_lr.yaml": tee_pipeline(ENCLAVE)}
    with two_parties(root, kafka_brokers, pipelines=pipelines, wait_listener=False,
                     connection_extra=tee_connections(root, ENCLAVE, measured_enclave)) as started:  # fmt: skip
        yield started


def call(party: Party, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(method, party.api + path, headers=party.headers(), timeout=60, **kwargs)


def push(party: Party, definition: dict) -> httpx.Response:
    """The seed's ``curl -X POST .../flow-server/pipelines --form file=@pipeline.yaml``."""
    return call(
        party,
        "POST",
        "/pipelines",
        files={"file": ("pipeline.yaml", yaml.safe_dump(definition, sort_keys=False), "application/yaml")},
    )


def submit(party: Party, pipeline_id: str, parameters: dict, job_id: str | None = None) -> httpx.Response:
    """The seed's ``curl -X POST .../pipelines/{id}/jobs --form parameters=@job_parameters.yaml``."""
    files = {"parameters": ("job_parameters.yaml", yaml.safe_dump(parameters), "application/yaml")}
    return call(party, "POST", f"/pipelines/{pipeline_id}/jobs", files=files, params={"job_id": job_id} if job_id else None)


def job_view(party: Party, job_id: str) -> dict | None:
    response = call(party, "GET", f"/jobs/{job_id}")
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    return response.json()


def wait_state(party: Party, job_id: str, states: set[str], timeout: float) -> dict:
    last: dict = {}

    def reached():
        nonlocal last
        last = job_view(party, job_id) or {}
        return last if last.get("state") in states else None

    return until(reached, timeout, lambda: f"{party.role}'s job {job_id} to be {states} (last: {last})", poll=3.0)


@pytest.fixture(scope="module")
def seed_job(parties: TwoParties) -> str:
    """The pipeline pushed at each party and a job submitted at the guest with the seed's calls; its job id."""
    for party in parties.parties:
        response = push(party, parties.pipeline())
        assert response.status_code in (200, 201), response.text  # deployed with the DAGs: the same pipeline again is fine
        assert response.json()["pipeline_id"] == PIPELINE
    response = submit(parties.guest, PIPELINE, parties.job_parameters())
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["conf"]["parties-args"][parties.host.party_id]["work_dir"] == str(parties.work_dir)
    assert f"parties-args.{parties.host.party_id}.hadoop-user-name" in body["ignored"]
    return body["job_id"]


@pytest.fixture(scope="module")
def tee_job(parties: TwoParties, kafka_brokers, measured_enclave) -> str:
    """The example TEE pipeline submitted at the guest (runs beside the other tests); its job id."""
    deploy_enclave(parties, ENCLAVE, kafka_brokers["host2"], measured_enclave)
    response = submit(parties.guest, TEE_PIPELINE, tee_job_parameters(parties))
    assert response.status_code == 201, response.text
    return response.json()["job_id"]


def test_a_tee_job_is_submitted_and_a_conf_cannot_set_a_partys_tee_policy(parties, tee_job):
    params = tee_job_parameters(parties)
    params["parties-args"][parties.host.party_id]["enclave"] = {"tee_policy_path": "/tmp/permissive.yaml"}
    response = submit(parties.guest, TEE_PIPELINE, params)
    assert response.status_code == 400, response.text
    assert "tee_policy_path" in response.json()["detail"] and "its own" in response.json()["detail"], response.json()
    assert tee_job


def test_every_route_refuses_a_caller_without_a_login(parties, seed_job):
    for method, path in [("GET", "/party"), ("GET", "/pipelines"), ("POST", "/pipelines"), ("GET", "/jobs"),
                         ("GET", f"/jobs/{seed_job}"), ("POST", f"/jobs/{seed_job}/stop"), ("DELETE", f"/jobs/{seed_job}"),
                         ("GET", f"/jobs/{seed_job}/metrics"), ("GET", f"/jobs/{seed_job}/logs?step=align"),
                         ("GET", f"/jobs/{seed_job}/models/train/download"), ("GET", f"/jobs/{seed_job}/data?step=align"),
                         ("POST", f"/jobs/{seed_job}/rerun"),
                         ("POST", f"/pipelines/{PIPELINE}/jobs")]:  # fmt: skip
        response = httpx.request(method, parties.guest.api + path, timeout=30)
        assert response.status_code == 401, (path, response.text)
    assert httpx.get(parties.guest.api + "/openapi.json", timeout=30).status_code == 404  # no schema page without a login
    forged = {"Authorization": "Bearer not-a-token"}
    bad = httpx.get(parties.guest.api + "/jobs", headers=forged, timeout=30)
    assert bad.status_code == httpx.get(parties.guest.url + "/api/v2/dags", headers=forged, timeout=30).status_code == 403


def test_a_bad_pipeline_and_bad_parameters_are_refused_naming_the_field(parties, seed_job):
    typo = parties.pipeline("powerfl_it_flow_typo")
    typo["tasks"]["train"]["component"] = "trian"
    response = push(parties.guest, typo)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "tasks.train.component"
    assert "pipeline.yaml" in response.json()["detail"] and "trian" in response.json()["detail"]

    params = parties.job_parameters(train={"max_itre": 3})
    response = submit(parties.guest, PIPELINE, params)
    assert response.status_code == 400, response.text
    assert "max_itre" in response.json()["field"] and "job_parameters.yaml" in response.json()["detail"]

    response = call(parties.guest, "POST", f"/pipelines/{PIPELINE}/jobs", files={"file": ("x.yaml", b"a: 1")})
    assert response.status_code == 400 and response.json()["field"] == "parameters", response.text
    assert call(parties.guest, "GET", "/jobs", params={"state": "sleeping"}).json()["field"] == "state"
    assert call(parties.guest, "GET", f"/jobs/{seed_job}/logs").json()["field"] == "step"


def test_a_pushed_pipeline_is_stored_parsed_listed_and_deleted(parties, seed_job):
    pipeline = parties.pipeline("powerfl_it_flow_pushed")
    response = push(parties.host, pipeline)
    assert response.status_code == 201, response.text
    assert (parties.host.pipelines_dir / "powerfl_it_flow_pushed.yaml").is_file()
    assert push(parties.host, pipeline).status_code == 200  # the same again: unchanged
    pipeline["description"] = "changed"
    assert push(parties.host, pipeline).status_code == 409  # another pipeline of that id
    shown = call(parties.host, "GET", "/pipelines/powerfl_it_flow_pushed").json()
    assert shown["definition"]["description"] != "changed" and [t["task_id"] for t in shown["tasks"]][:2] == ["align", "train"]
    listed = {p["pipeline_id"]: p for p in call(parties.host, "GET", "/pipelines").json()["pipelines"]}
    assert {PIPELINE, "powerfl_it_flow_pushed"} <= set(listed)  # "parsed" once the dag-processor gets to it
    assert call(parties.host, "DELETE", "/pipelines/powerfl_it_flow_pushed").json() == {
        "pipeline_id": "powerfl_it_flow_pushed",
        "deleted": True,
    }
    assert call(parties.host, "GET", "/pipelines/powerfl_it_flow_pushed").status_code == 404


@pytest.mark.timeout(2400)  # the stopped job then runs to the end after its rerun, beside the seed job
def test_pause_resume_stop_and_rerun_reach_the_other_party_and_are_safe_to_repeat(parties, seed_job):
    guest, host = parties.guest, parties.host
    job_id = f"it-flow-stop-{uuid.uuid4().hex[:6]}"
    assert submit(guest, PIPELINE, parties.job_parameters(), job_id=job_id).status_code == 201

    def paused_now():
        response = call(guest, "POST", f"/jobs/{job_id}/pause")
        return response.json() if response.status_code == 200 else None  # 409 until its invite task drew the nonce

    reply = until(paused_now, 120, f"the guest to accept a pause of {job_id}")
    assert reply["changed"] and reply["peers_told"] == [host.party_id], reply
    assert call(guest, "POST", f"/jobs/{job_id}/pause").json()["changed"] is False
    at_host = wait_state(host, job_id, {"paused"}, 180)  # the host's listener started it; the pause came on its broker
    assert at_host["parties"][guest.party_id]["state"] == "paused"
    assert wait_state(guest, job_id, {"paused"}, 30)["parties"][host.party_id]["state"] == "paused"

    reply = call(host, "POST", f"/jobs/{job_id}/resume").json()  # resumed at the other party
    assert reply["changed"] and reply["peers_told"] == [guest.party_id], reply
    wait_state(guest, job_id, {"running"}, 30)
    assert call(guest, "DELETE", f"/jobs/{job_id}").status_code == 409  # refused while it runs

    reply = call(guest, "POST", f"/jobs/{job_id}/stop").json()
    assert reply["changed"] and reply["state"] == "failed" and reply["peers_told"] == [host.party_id], reply
    assert call(guest, "POST", f"/jobs/{job_id}/stop").json()["changed"] is False
    stopped = wait_state(host, job_id, {"failed"}, 180)
    assert "stopped by a user" in (stopped["parties"][guest.party_id]["error"] or {}).get("reason", ""), stopped
    # the guest's step the stop killed posts no failure of its own: its job end closes it in the host's view
    assert "running" not in {s["state"] for s in stopped["parties"][guest.party_id]["steps"].values()}, stopped
    wait_state(guest, job_id, {"failed"}, 60)

    # rerun at the other party: its signed __rerun__ makes the guest's flow-server clear the guest's run too
    reply = call(host, "POST", f"/jobs/{job_id}/rerun").json()
    assert reply["changed"] and reply["state"] == "queued" and reply["peers_told"] == [guest.party_id], reply
    assert call(host, "POST", f"/jobs/{job_id}/rerun").status_code == 409  # queued again: a repeat changes nothing
    for party in (host, guest):
        view = wait_state(party, job_id, {"success", "failed"}, 900)
        assert view["state"] == "success", view
        assert {pid: p["state"] for pid, p in view["parties"].items()} == {guest.party_id: "success", host.party_id: "success"}
        assert all(p["error"] is None for p in view["parties"].values()), view  # the stop before the rerun is void

    assert call(guest, "DELETE", f"/jobs/{job_id}").json()["deleted"] is True
    assert call(guest, "GET", f"/jobs/{job_id}").status_code == 404


def test_the_seed_job_succeeds_at_both_parties_and_each_shows_both(parties, seed_job):
    guest, host = parties.guest, parties.host
    started = time.monotonic()
    for party in (guest, host):
        view = wait_state(party, seed_job, {"success", "failed"}, 600)
        assert view["state"] == "success", view
        assert view["progress"] == 1.0 and view["pipeline_id"] == PIPELINE
        assert {pid: p["state"] for pid, p in view["parties"].items()} == {guest.party_id: "success", host.party_id: "success"}
        for pid, seen in view["parties"].items():
            assert seen["local"] is (pid == party.party_id)
            assert seen["steps"]["train"]["state"] == "success" and seen["error"] is None, seen
    print(f"seed job finished {time.monotonic() - started:.0f}s after the other tests")

    listed = call(guest, "GET", "/jobs", params={"state": "success", "pipeline": PIPELINE, "role": "guest"}).json()
    assert seed_job in [j["job_id"] for j in listed["jobs"]]
    assert listed["jobs"][0]["parties"][host.party_id]["role"] == "host"

    metrics = call(guest, "GET", f"/jobs/{seed_job}/metrics", params={"threshold": 0.3}).json()
    assert metrics["task"] == "binary" and 0.8 < metrics["metrics"]["auc"] <= 1.0, metrics
    assert len(metrics["curves"]["roc"]) > 10 and metrics["curves"]["ks"] and metrics["curves"]["lift"]
    assert metrics["confusion"]["threshold"] == 0.3 and metrics["confusion"]["tp"] > 0
    assert call(host, "GET", f"/jobs/{seed_job}/metrics").status_code == 404  # the host has no labels
    for party in (guest, host):
        models = call(party, "GET", f"/jobs/{seed_job}/models").json()["models"]
        assert [m["task_id"] for m in models] == ["train"] and models[0]["model_id"]
        download = call(party, "GET", f"/jobs/{seed_job}/models/train/download")
        assert download.status_code == 200 and download.headers["content-type"] == "application/gzip", download.text
        with tarfile.open(fileobj=io.BytesIO(download.content)) as archive:
            names = archive.getnames()
            manifest = json.load(archive.extractfile(next(n for n in names if n.endswith("/model.json"))))
        assert manifest["party_id"] == party.party_id and manifest["model_id"] == models[0]["model_id"], names
        missing = call(party, "GET", f"/jobs/{seed_job}/models/predict/download")
        assert missing.status_code == 404 and "predict" in missing.json()["detail"]
        log = call(party, "GET", f"/jobs/{seed_job}/logs", params={"step": "train"}).json()
        assert log["try_number"] == 1 and any("train" in line["event"] for line in log["lines"]), log["lines"][-5:]


def test_the_aligned_data_preview_shows_only_the_own_partys_columns(parties, seed_job):
    guest, host = parties.guest, parties.host
    wait_state(guest, seed_job, {"success", "failed"}, 600)
    wait_state(host, seed_job, {"success", "failed"}, 600)
    seen = {p.party_id: call(p, "GET", f"/jobs/{seed_job}/data", params={"step": "align"}).json() for p in (guest, host)}
    mine, theirs = seen[guest.party_id], seen[host.party_id]
    for preview in (mine, theirs):
        assert preview["step"] == "align" and preview["input"] == "train" and preview["id_column"] == "id", preview
        assert len(preview["rows"]) == min(100, preview["total_rows"]) and preview["columns"][0] == "id"
    assert mine["label_column"] == "label" and "label" in mine["columns"] and "label" not in theirs["columns"]
    assert set(mine["columns"]) & set(theirs["columns"]) == {"id"}  # no peer's column at either party
    assert [r[0] for r in mine["rows"]] == [r[0] for r in theirs["rows"]]  # the same intersection, in the PSI's order
    assert mine["total_rows"] == theirs["total_rows"] > 100
    assert call(guest, "GET", f"/jobs/{seed_job}/data", params={"step": "train"}).status_code == 404


def test_the_powerfl_cli_drives_the_same_api(parties, seed_job, monkeypatch, capsys):
    from airflow_provider_powerfl.cli import main

    guest = parties.guest
    monkeypatch.setenv("POWERFL_PASSWORD", guest.password)
    assert main(["pipeline", "list", "--api", guest.url]) == 0
    assert PIPELINE in [p["pipeline_id"] for p in json.loads(capsys.readouterr().out)["pipelines"]]
    assert main(["job", "list", "--api", guest.url, "--state", "success", "--pipeline", PIPELINE]) == 0
    assert seed_job in [j["job_id"] for j in json.loads(capsys.readouterr().out)["jobs"]]
    assert main(["job", "show", seed_job, "--api", guest.url]) == 0
    assert json.loads(capsys.readouterr().out)["parties"][parties.host.party_id]["state"] == "success"
    assert main(["job", "pause", seed_job, "--api", guest.url]) == 1  # a finished job: 409, its detail printed
    assert "only a queued or running job can pause" in capsys.readouterr().err


@pytest.mark.timeout(1500)
def test_the_tee_pipeline_gives_the_centralized_model_at_both_parties_not_confidential(parties, tee_job):
    """align (PSI) then the enclave step: the enclave host launched at the guest, keys released by each owner's own
    policy (simulated evidence explicitly accepted), results sealed back to each owner."""
    from airflow_provider_powerfl.tee.errors import NOT_CONFIDENTIAL

    results = {}
    for party in parties.parties:
        view = wait_state(party, tee_job, {"success", "failed"}, 900)
        assert view["state"] == "success", view
        results[party.party_id] = json.loads(
            (parties.work_dir / tee_job / party.party_id / "train" / "enclave_result.json").read_text()
        )
        metrics = json.loads((parties.work_dir / tee_job / party.party_id / "train" / "result.json").read_text())["metrics"]
        assert metrics["notice"] == NOT_CONFIDENTIAL and metrics["confidential"] == "false", metrics
        log = call(party, "GET", f"/jobs/{tee_job}/logs", params={"step": "train"}).json()
        assert any(NOT_CONFIDENTIAL in line["event"] for line in log["lines"]), log["lines"][-10:]
    central = centralized_auc(parties, tee_job)
    guest, host = results[parties.guest.party_id], results[parties.host.party_id]
    assert abs(guest["auc"] - central) <= 1e-9 and guest["auc"] == host["auc"] > 0.9, (guest["auc"], central)
    assert guest["notice"] == host["notice"] == NOT_CONFIDENTIAL and "intercept" in guest and "intercept" not in host
    assert len(host["weights"]["coef"]) + len(guest["weights"]["coef"]) == 30  # each owner got its own columns' weights
