"""`powerfl bench flow-server-jobs` and `powerfl bench cross-party` run end to end at tiny sizes (real Airflows and
Kafka); their last line is the JSON the docs quote. Figures are the benches' business, not asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(1500)  # each bench starts Airflow; a loaded machine takes minutes for that


def bench(tmp_path: Path, *args: str, timeout: float) -> dict:
    log = tmp_path / f"{args[0]}.log"
    with open(log, "w") as out:
        proc = subprocess.run([sys.executable, "-m", "airflow_provider_powerfl.cli", "bench", *args], stdout=out,
                              stderr=subprocess.STDOUT, timeout=timeout)  # fmt: skip
    text = log.read_text()
    assert proc.returncode == 0, text[-4000:]
    return json.loads(text.strip().splitlines()[-1])


def test_flow_server_jobs_bench_lists_recorded_jobs_with_right_totals(kafka_brokers: Mapping[str, str], tmp_path: Path):
    result = bench(tmp_path, "flow-server-jobs", "--jobs", "20", "--repeat", "2", "--broker", "guest", timeout=900)
    assert result["bench"] == "flow-server-jobs" and result["jobs"] == 20
    assert result["recorded"]["runs"] == 20 and result["recorded"]["events"] > 0
    assert {"median_ms", "p95_ms", "baseline_median_ms", "baseline_p95_ms", "ratio", "goal_met", "load"} <= set(result)
    queries = result["queries"]
    assert {"flow_server_default", "flow_server_party", "flow_server_paused", "airflow_dag_runs"} <= set(queries)
    assert all(q["n"] == 2 and q["median_ms"] > 0 for q in queries.values())
    assert result["wrong_totals"] == [], {k: (v["total"], v.get("expected_total")) for k, v in queries.items()}
    assert queries["flow_server_paused"]["total"] >= 1  # the paused job is found by its pause event on the broker
    assert queries["flow_server_default"]["success_rows_below_100_percent"] == 0


def test_cross_party_bench_sees_each_change_at_the_other_party(kafka_brokers: Mapping[str, str], tmp_path: Path):
    result = bench(tmp_path, "cross-party", "--repeat", "1", "--brokers", "guest", "host", timeout=1200)
    assert result["bench"] == "cross-party"
    assert [c["change"] for c in result["changes"]] == [
        "pause at guest -> host",
        "resume at host -> guest",
        "stop at guest -> host",
    ]
    assert all(c["peer_view_s"] is not None and c["peer_view_s"] > 0 for c in result["changes"]), result["changes"]
    assert {"median_s", "max_s", "goal_met", "peer_view", "state", "load"} <= set(result)
