"""SecretFlow side by side: its SGB or hetero LR and ours on the same split, one after the other in one run.

SecretFlow 1.14.0b0 runs through ``scripts/secretflow-baseline`` (its own Python 3.10 venv, installed by
``scripts/secretflow-baseline install``; two processes in production mode over gRPC, no Ray). Ours runs
as `powerfl bench secureboost` or `powerfl bench hetero-lr` does (spark-submit parties through Kafka)
with the same trees, depth, bins, epochs, batch, learning rate and key size. SecureBoost compares
SecretFlow's SGB (HEU with its OU scheme by default, or Paillier) with ours (Paillier); hetero LR
compares SecretFlow's SS-LR (SPU SEMI2K, no HE) or HESS-LR (SPU + HEU) with ours (Paillier). The final
line gives both walls, CPU seconds, peak memory, fit times and test AUCs with the load around each.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import psutil

from airflow_provider_powerfl.exceptions import ConfigError, PowerFLError
from bench import REPO
from bench.process_tree import Sampler, TreeCpu

SCRIPT = REPO / "scripts" / "secretflow-baseline"
VENV = Path(os.environ.get("SECRETFLOW_VENV", "/work/sf-venv"))
LR_MODES = {"ss": "run-sslr", "hess": "run-hesslr"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--algorithm", required=True, choices=("secureboost", "hetero-lr"))
    parser.add_argument("--dataset", default=None, choices=("a9a", "default_credit"),
                        help="default: default_credit for secureboost, a9a for hetero-lr")  # fmt: skip
    parser.add_argument("--trees", type=int, default=None, help="default: bench secureboost's per data set (30 / 40)")
    parser.add_argument("--depth", type=int, default=None)
    parser.add_argument("--bins", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=None, help="default: bench hetero-lr's per data set")
    parser.add_argument("--key-length", type=int, default=2048, help="both sides' HE key bits")
    parser.add_argument("--scheme", choices=("ou", "paillier"), default="ou", help="SecretFlow's HEU scheme (ours: Paillier)")
    parser.add_argument("--lr-mode", choices=tuple(LR_MODES), default="ss", help="SecretFlow's SS-LR or HESS-LR")
    parser.add_argument("--skip-ours", action="store_true", help="SecretFlow's side only (ours' figures from another run)")
    parser.add_argument("--json", action="store_true", help="accepted for scripts: the last line printed is always the JSON")


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """The shared settings: the command line's, else ours' defaults for the data set (bench secureboost / hetero-lr)."""
    if args.algorithm == "secureboost":
        from bench.secureboost import DEFAULTS

        dataset = args.dataset or "default_credit"
        d = DEFAULTS[dataset]
        return {"dataset": dataset, "trees": args.trees or d["trees"], "depth": args.depth or d["depth"],
                "bins": args.bins or d["bins"], "learning_rate": 0.3, "key_length": args.key_length}  # fmt: skip
    from bench.hetero_lr import SETTINGS

    dataset = args.dataset or "a9a"
    batch, optimizer, learning_rate, _, _ = SETTINGS[dataset]
    if optimizer != "sgd":
        raise ConfigError(f"--dataset {dataset}: ours uses {optimizer}, SecretFlow's LRs plain SGD; no like-for-like run")
    return {"dataset": dataset, "epochs": args.epochs, "batch_size": args.batch_size or batch,
            "learning_rate": learning_rate, "key_length": args.key_length}  # fmt: skip


def baseline_command(args: argparse.Namespace, shared: dict[str, Any]) -> list[str]:
    """scripts/secretflow-baseline's command line for these settings."""
    common = ["--dataset", shared["dataset"], "--learning-rate", str(shared["learning_rate"]),
              "--key-length", str(shared["key_length"]), "--scheme", args.scheme]  # fmt: skip
    if args.algorithm == "secureboost":
        sizes = ["--trees", str(shared["trees"]), "--depth", str(shared["depth"]), "--bins", str(shared["bins"])]
        return [str(SCRIPT), "run-sgb", *common, *sizes]
    return [str(SCRIPT), LR_MODES[args.lr_mode], *common, "--epochs", str(shared["epochs"]),
            "--batch-size", str(shared["batch_size"])]  # fmt: skip


def _secretflow(args: argparse.Namespace, shared: dict[str, Any]) -> dict[str, Any]:
    if not (VENV / "bin" / "python").exists():
        raise ConfigError(
            f"SecretFlow venv {VENV} is not installed: run `scripts/secretflow-baseline install` (or set SECRETFLOW_VENV)"
        )
    cmd = baseline_command(args, shared)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)  # the parties' logs go to stderr, shown live
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise PowerFLError(f"SecretFlow baseline failed (exit {proc.returncode}): {' '.join(cmd)}")
    return json.loads(lines[-1])


class PeakRss(Sampler):
    """Peak resident memory of all this process's descendants together (both parties' trees), sampled."""

    def __init__(self, interval: float = 0.5) -> None:
        super().__init__(interval)
        self.peak_mb = 0.0

    def _sample(self) -> None:
        total = 0
        for proc in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        self.peak_mb = max(self.peak_mb, total / 2**20)


def _ours(args: argparse.Namespace, shared: dict[str, Any]) -> dict[str, Any]:
    """Ours through bench secureboost / hetero-lr with the shared settings; its result with CPU, peak RSS and load."""
    load_before = os.getloadavg()
    if args.algorithm == "secureboost":
        from bench import secureboost as module

        ns = argparse.Namespace(dataset=shared["dataset"], trees=shared["trees"], depth=shared["depth"], bins=shared["bins"],
                                learning_rate=shared["learning_rate"], reg_lambda=1.0, key_length=shared["key_length"],
                                guest_only_trees=0, master="local[2]", work_dir=None,
                                hide_instance_space="off")  # fmt: skip  # partitions shown, as its figures were measured
    else:
        from bench import hetero_lr as module

        ns = argparse.Namespace(dataset=shared["dataset"], epochs=shared["epochs"], key_length=shared["key_length"],
                                batch_size=shared["batch_size"], optimizer=None, learning_rate=shared["learning_rate"],
                                residual=None, slope_every=None, hosts=1, alpha=1e-3, simulate=False, work_dir=None,
                                crypto_executor=None)  # fmt: skip
    with TreeCpu() as cpu, PeakRss() as memory:
        result = module.run(ns)
    return {**result, "cpu_seconds_tree": round(cpu.seconds, 1), "peak_rss_mb_total": round(memory.peak_mb),
            "load_before": [round(v, 2) for v in load_before], "load_after": [round(v, 2) for v in os.getloadavg()]}  # fmt: skip


def combined(args: argparse.Namespace, shared: dict[str, Any], ours: dict[str, Any] | None, sf: dict[str, Any]) -> dict[str, Any]:
    """The final JSON: SecretFlow's and ours' figures side by side, the wall ratio SecretFlow / ours."""
    lr = args.algorithm == "hetero-lr"
    out: dict[str, Any] = {
        "bench": "secretflow", "algorithm": args.algorithm, **shared, "secretflow_version": sf["secretflow_version"],
        "secretflow_algorithm": sf["algorithm"], "secretflow_scheme": "SEMI2K secret sharing" if lr and args.lr_mode == "ss" else args.scheme,
        "ours_scheme": "paillier", "secretflow_wall_s": sf["wall_seconds"], "secretflow_cpu_s": sf["cpu_seconds"],
        "secretflow_peak_rss_mb": sum(sf["peak_rss_mb"].values()), "secretflow_fit_s": sf["fit_seconds"],
        "secretflow_auc": sf["auc"], "secretflow_load": [sf["load_before"][0], sf["load_after"][0]], "secretflow": sf,
    }  # fmt: skip
    out["secretflow_per_unit_s"] = sf["epoch_seconds"] if lr else sf["tree_seconds"]
    if ours is None:
        return out
    auc = ours["federated_auc"] if lr else ours["federated"]
    cpu = ours["cpu_seconds_sampled"] if lr else ours["cpu_seconds_tree"]
    out.update(
        ours_wall_s=ours["wall_seconds"], ours_cpu_s=cpu, ours_peak_rss_mb=ours["peak_rss_mb_total"],
        ours_fit_s=ours["fit_seconds"], ours_auc=auc, ours_per_unit_s=ours["epoch_seconds"] if lr else ours["seconds_per_tree"],
        ours_load=[ours["load_before"][0], ours["load_after"][0]], ours=ours,
        wall_ratio_secretflow_over_ours=round(sf["wall_seconds"] / ours["wall_seconds"], 2),
        fit_ratio_secretflow_over_ours=round(sf["fit_seconds"] / ours["fit_seconds"], 2),
    )  # fmt: skip
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    shared = settings(args)
    unit = "epoch" if args.algorithm == "hetero-lr" else "tree"
    ours = None if args.skip_ours else _ours(args, shared)
    sf = _secretflow(args, shared)
    result = combined(args, shared, ours, sf)
    print(f"SecretFlow {result['secretflow_algorithm']} ({result['secretflow_scheme']}): {sf['wall_seconds']} s wall, "
          f"{sf['cpu_seconds']} CPU-s, fit {sf['fit_seconds']} s ({result['secretflow_per_unit_s']} s per {unit}), "
          f"AUC {sf['auc']}, load {result['secretflow_load']}")  # fmt: skip
    if ours is not None:
        print(f"ours (Paillier-{shared['key_length']}): {result['ours_wall_s']} s wall, {result['ours_cpu_s']} CPU-s, "
              f"fit {result['ours_fit_s']} s ({result['ours_per_unit_s']} s per {unit}), AUC {result['ours_auc']}, "
              f"load {result['ours_load']}; SecretFlow / ours by wall {result['wall_ratio_secretflow_over_ours']}x")  # fmt: skip
    return result
