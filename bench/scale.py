"""How the steps' cost grows with rows: PSI (the align step), hetero LR (1 epoch) and SecureBoost (1 tree).

For each row count a synthetic two-party set is generated (airflow_provider_powerfl/datasets/synthetic.py:
string ids, ``--overlap`` of each party's rows shared), and guest and host run each step as spark-submit
processes through real Kafka, as in ``powerfl bench hetero-lr``. Per step: wall seconds, CPU seconds of
both parties' process trees (sampled every second), the peak resident memory of each party's process
tree (spark-submit's JVM, the Python driver and its workers) and the bytes the step's federation topics
hold on the brokers after it (what crossed between the parties, framing included). The per-row cost
(CPU microseconds per row) is reported beside each figure so runs of different sizes compare directly.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from airflow_provider_powerfl.datasets.synthetic import SyntheticSpec, write_synthetic
from airflow_provider_powerfl.exceptions import PowerFLError
from bench import brokers
from bench.process_tree import Sampler, TreeCpu
from tests.support.launch import REPO, check_ok, run_parties, write_job

GUEST, HOST = "10000", "20000"
ROLES = {GUEST: "guest", HOST: "host"}
BROKER_OF = {GUEST: "guest", HOST: "host"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", default="100000,1000000", help="comma-separated rows per party (default 100000,1000000)")
    parser.add_argument("--guest-features", type=int, default=10)
    parser.add_argument("--host-features", type=int, default=20)
    parser.add_argument("--overlap", type=float, default=0.8, help="share of each party's rows both hold")
    parser.add_argument("--sparsity", type=float, default=0.0)
    parser.add_argument("--key-length", type=int, default=2048, help="Paillier key bits")
    parser.add_argument("--algorithms", default="psi,hetero_lr,secureboost", help="comma-separated subset")
    parser.add_argument("--json", action="store_true", help="accepted for symmetry: the last line is always JSON")
    parser.add_argument("--work-dir", type=Path, default=None, help="default: a temporary directory")
    parser.add_argument("--plot", type=Path, default=None, help="write a PNG of CPU-s per row and peak RSS against rows")
    parser.add_argument("--from-json", type=Path, nargs="*", default=None,
                        help="no run: merge the entries of earlier runs' JSON lines (files) for --plot and the ratios")  # fmt: skip


class PartyMemory(Sampler):
    """Peak resident memory of each party's process tree (a direct child of this process running its spec)."""

    def __init__(self, interval: float = 0.5) -> None:
        super().__init__(interval)
        self.peak_mb: dict[str, float] = {}

    def _sample(self) -> None:
        for child in psutil.Process().children():
            try:
                party = next((pid for pid in ROLES if any(a.endswith(f"-{pid}.json") for a in child.cmdline())), None)
                if party is None:
                    continue
                rss = sum(p.memory_info().rss for p in [child, *child.children(recursive=True)])
            except psutil.Error:
                continue
            self.peak_mb[party] = max(self.peak_mb.get(party, 0.0), rss / 2**20)


def topic_bytes(job_id: str) -> int:
    """Bytes in the job's federation topics on both parties' brokers (scripts/kafka's data dirs)."""
    total = 0
    for broker in BROKER_OF.values():
        for topic in (REPO / ".run" / "kafka" / broker / "data").glob(f"powerfl.{job_id}.*"):
            total += sum(f.stat().st_size for f in topic.glob("*.log"))
    return total


def _step(work: Path, job: str, addrs: dict[str, str], step: str, inputs: dict, params: dict) -> tuple[dict, dict[str, Any]]:
    specs = write_job(work, job, addrs, ROLES, inputs, step, params)
    load_before = os.getloadavg()[0]  # the machine is shared: each figure carries the load it ran under
    with TreeCpu() as cpu, PartyMemory() as memory:
        start = time.perf_counter()
        runs = run_parties(step, specs, timeout=4 * 3600)
        wall = time.perf_counter() - start
    check_ok(step, runs)
    return runs, {"wall_s": round(wall, 1), "cpu_s": round(cpu.seconds, 1),
                  "load_1m": [round(load_before, 1), round(os.getloadavg()[0], 1)],
                  "peak_rss_mb": {pid: round(mb) for pid, mb in memory.peak_mb.items()},
                  "peak_rss_mb_max": round(max(memory.peak_mb.values(), default=0.0)),
                  "bytes_crossed": topic_bytes(f"{job}.{step}")}  # fmt: skip


def _report(entry: dict, rows: int, data: SyntheticSpec, args: argparse.Namespace) -> dict:
    """Complete a step's entry and print it at once (a later step's failure must not lose it)."""
    entry.update(rows=rows, shared_rows=data.shared, guest_features=args.guest_features, host_features=args.host_features)
    if "error" in entry:
        print(f"{entry['algorithm']} {rows} rows: FAILED: {entry['error']}", flush=True)
        return entry
    entry["cpu_us_per_row"] = round(entry["cpu_s"] / rows * 1e6, 1)
    print(f"{entry['algorithm']} {rows} rows: wall {entry['wall_s']} s, CPU {entry['cpu_s']} s ({entry['cpu_us_per_row']} us/row), "
          f"peak RSS {entry['peak_rss_mb']} MB, {entry['bytes_crossed']} B crossed, load {entry['load_1m']}; "
          f"entry {json.dumps(entry, sort_keys=True)}", flush=True)  # fmt: skip
    return entry


def _one_size(args: argparse.Namespace, rows: int, work: Path, addrs: dict[str, str], algorithms: list[str]) -> list[dict]:
    data = SyntheticSpec(rows, args.guest_features, args.host_features, args.overlap, args.sparsity, seed=rows % 1000)
    split = write_synthetic(work / "data", data, "parquet")
    inputs = {GUEST: {"train": {"uri": str(split.guest), "format": "parquet", "label_column": "y"}},
              HOST: {"train": {"uri": str(split.host), "format": "parquet"}}}  # fmt: skip
    job = f"bench-scale-{rows}-{int(time.time())}"
    aligned, psi = _step(work, job, addrs, "align", inputs, {"timeout": 3600})
    out = [_report({"algorithm": "psi", **psi}, rows, data, args)] if "psi" in algorithms else []
    aligned_inputs = {pid: {"train": run.result["outputs"]["train"]} for pid, run in aligned.items()}
    common = {"key_length": args.key_length, "random_state": 0, "timeout": 3600}
    trainings = {
        "hetero_lr": {"algorithm": "hetero_lr", "max_iter": 1, "tol": 0.0, **common},
        "secureboost": {"algorithm": "secureboost", "n_estimators": 1, "max_depth": 3, **common},
    }
    for name, params in trainings.items():
        if name in algorithms:
            try:
                _, figures = _step(work / name, f"{job}-{name}", addrs, "train", aligned_inputs, params)
            except PowerFLError as failed:  # e.g. a shared broker down a moment: the other algorithms still run
                figures = {"error": str(failed)[:500]}
            out.append(_report({"algorithm": name, **figures}, rows, data, args))
    return out


def per_row_ratios(entries: list[dict]) -> dict[str, dict[str, float]]:
    """Per algorithm and row count: CPU seconds per row over that of the algorithm's smallest row count."""
    out: dict[str, dict[str, float]] = {}
    entries = [e for e in entries if "error" not in e]
    for name in dict.fromkeys(e["algorithm"] for e in entries):
        mine = sorted((e for e in entries if e["algorithm"] == name), key=lambda e: e["rows"])
        base = mine[0]["cpu_s"] / mine[0]["rows"]
        out[name] = {str(e["rows"]): round(e["cpu_s"] / e["rows"] / base, 2) if base else None for e in mine}
    return out


def plot(entries: list[dict], path: Path) -> None:
    """CPU microseconds per row and peak RSS per party against rows, one line per algorithm (log x)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (cost, memory) = plt.subplots(1, 2, figsize=(10, 4))
    entries = [e for e in entries if "error" not in e]
    for name in dict.fromkeys(e["algorithm"] for e in entries):
        mine = sorted((e for e in entries if e["algorithm"] == name), key=lambda e: e["rows"])
        rows = [e["rows"] for e in mine]
        cost.plot(rows, [e["cpu_s"] / e["rows"] * 1e6 for e in mine], marker="o", label=name)
        memory.plot(rows, [e["peak_rss_mb_max"] for e in mine], marker="o", label=name)
    memory.axhline(4096, color="grey", linestyle="--", label="goal: 4 GB per party")
    for ax, label in ((cost, "CPU us per row (both parties)"), (memory, "peak RSS of a party (MB)")):
        ax.set_xscale("log")
        ax.set_xlabel("rows per party")
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.from_json:
        entries = [e for f in args.from_json for e in json.loads(f.read_text().strip().splitlines()[-1])["entries"]]
        if args.plot:
            plot(entries, args.plot)
        return {"bench": "scale", "from": [str(f) for f in args.from_json], "per_row_cpu_vs_smallest": per_row_ratios(entries),
                "entries": entries}  # fmt: skip
    sizes = [int(r) for r in args.rows.split(",")]
    algorithms = [a.strip() for a in args.algorithms.split(",")]
    addrs = dict(zip(ROLES, brokers(*BROKER_OF.values()), strict=True))
    entries = []
    with tempfile.TemporaryDirectory(prefix="powerfl-bench-scale-") as tmp:
        for rows in sizes:
            work = (args.work_dir or Path(tmp)) / str(rows)
            work.mkdir(parents=True, exist_ok=True)
            entries += _one_size(args, rows, work, addrs, algorithms)
    if args.plot:
        plot(entries, args.plot)
    return {"bench": "scale", "per_row_cpu_vs_smallest": per_row_ratios(entries), "key_length": args.key_length, "guest_features": args.guest_features,
            "host_features": args.host_features, "overlap": args.overlap, "entries": entries}  # fmt: skip
