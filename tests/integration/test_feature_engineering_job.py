"""spark_jobs/feature_engineering.py: guest and host as concurrent spark-submits through real Kafka, fit then apply."""

from __future__ import annotations

import json
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from airflow_provider_powerfl.algorithms.feature_engineering import Binner, woe_iv
from airflow_provider_powerfl.federation.keys import generate_party_keys
from airflow_provider_powerfl.jobs.spec import TaskSpec
from tests.support.launch import spark_submit_command, submit_env

PARTIES = {"10000": ("guest", "guest"), "20000": ("host", "host")}  # party -> (role, broker name)
NONCE = uuid.uuid4().hex  # this session's runs; each test has its own job id
ROWS = 400


def head(src: Path, dst: Path, lines: int) -> Path:
    with src.open() as f:
        dst.write_text("".join(next(f) for _ in range(lines)))
    return dst


def write_spec(tmp_path: Path, job_id: str, party_id: str, brokers: dict[str, str], inputs: dict, params: dict, out: str) -> Path:
    spec = {
        "job_id": job_id,
        "attempt": 1,
        "party_id": party_id,
        "private_key": str(tmp_path / "keys" / f"{party_id}.key"),
        "parties": [
            {"id": pid, "role": role, "bootstrap_servers": brokers[broker], "public_key": str(tmp_path / "keys" / f"{pid}.pub")}
            for pid, (role, broker) in PARTIES.items()
        ],
        "inputs": inputs,
        "outputs": {"dir": str(tmp_path / out / party_id)},
        "nonce": NONCE,
        "params": params,
    }
    path = tmp_path / f"{out}-{party_id}.yaml"
    TaskSpec.from_dict(spec).dump(path)
    return path


def spark_submit(tmp_path: Path, spec: Path) -> subprocess.CompletedProcess[str]:
    """The product's command of the step (runtimes.command.step_command), run here."""
    cmd = spark_submit_command("feature_engineering", spec)
    return subprocess.run(cmd, cwd=tmp_path, env=submit_env(), capture_output=True, text=True, timeout=600)


def run_both(tmp_path: Path, specs: dict[str, Path]) -> None:
    with ThreadPoolExecutor(len(specs)) as pool:
        procs = dict(zip(specs, pool.map(lambda p: spark_submit(tmp_path, p), specs.values()), strict=True))
    for pid, proc in procs.items():
        log = "\n".join(line for line in (proc.stdout + proc.stderr).splitlines() if " INFO " not in line)
        assert proc.returncode == 0, f"party {pid} exited {proc.returncode}:\n{log[-5000:]}"


def read_parquet(uri: str) -> dict[str, np.ndarray]:
    table = pq.read_table(uri.removeprefix("file:"))
    return {name: np.asarray(table.column(name).to_pylist()) for name in table.column_names}


def test_fit_then_apply_with_federated_woe_iv(tmp_path, kafka_brokers, datasets):
    fate = datasets / "fate"
    data = {
        "10000": head(fate / "default_credit_hetero_guest.csv", tmp_path / "guest.csv", ROWS + 1),
        "20000": head(fate / "default_credit_hetero_host.csv", tmp_path / "host.csv", ROWS + 1),
    }
    for pid in PARTIES:
        generate_party_keys(tmp_path / "keys", pid)
    job = f"fe-it-{uuid.uuid4().hex[:8]}"
    params = {
        "mode": "fit",
        "binning": {"method": "quantile", "n_bins": 5, "key_length": 1024},
        "select": {"method": "top_k", "k": 12},
        "transform": "woe",
        "timeout": 300,
    }

    def inputs(pid: str) -> dict:
        spec = {"uri": str(data[pid]), "format": "csv", "id_column": "id"}
        return {"train": {**spec, "label_column": "y"} if pid == "10000" else spec}

    fit = {pid: write_spec(tmp_path, job, pid, kafka_brokers, inputs(pid), params, "fit") for pid in PARTIES}
    run_both(tmp_path, fit)
    results = {pid: json.loads((tmp_path / "fit" / pid / "result.json").read_text()) for pid in PARTIES}
    reports = {pid: json.loads((tmp_path / "fit" / pid / "woe_iv.json").read_text()) for pid in PARTIES}

    # host IVs: the guest's copy, the host's own, and the plaintext computation on the joined rows agree
    guest_rows = np.loadtxt(data["10000"], delimiter=",", skiprows=1)
    host_rows = np.loadtxt(data["20000"], delimiter=",", skiprows=1)
    order = np.argsort(guest_rows[:, 0].astype(int).astype(str))  # the step sorts rows by id (as strings)
    y, host_x = guest_rows[order, 1], host_rows[order, 1:]
    binner = Binner(method="quantile", n_bins=5).fit(host_x)
    bins = binner.transform(host_x)
    host_features = reports["20000"]["features"]
    for j, n in enumerate(binner.bin_counts()):
        events = np.bincount(bins[:, j], weights=y, minlength=n)
        _, iv = woe_iv(events, np.bincount(bins[:, j], minlength=n) - events)
        assert host_features[f"x{j}"]["iv"] == pytest.approx(iv, rel=1e-9)
        assert reports["10000"]["hosts"]["20000"]["iv"][j] == pytest.approx(iv, rel=1e-9)
    kept = len(reports["10000"]["features_out"]) + len(reports["20000"]["features_out"])
    assert kept == 12

    fitted = {pid: read_parquet(results[pid]["outputs"]["train"]["uri"]) for pid in PARTIES}
    assert "label" in fitted["10000"] and "label" not in fitted["20000"]
    assert fitted["10000"]["id"].tolist() == fitted["20000"]["id"].tolist()
    assert results["20000"]["outputs"]["train"]["features"] == reports["20000"]["features_out"]

    # apply: each party alone, from its saved model, gives the very same transformed rows
    apply = {
        pid: write_spec(
            tmp_path, job + "-apply", pid, kafka_brokers, inputs(pid), {"mode": "apply", "model": results[pid]["model"]}, "apply"
        )
        for pid in PARTIES
    }
    run_both(tmp_path, apply)
    for pid in PARTIES:
        applied = json.loads((tmp_path / "apply" / pid / "result.json").read_text())
        again = read_parquet(applied["outputs"]["train"]["uri"])
        assert again.keys() == fitted[pid].keys()
        for column, values in fitted[pid].items():
            np.testing.assert_array_equal(again[column], values)
