"""FATE 2.2 standalone baseline: FATE's own hetero LR (CoordinatedLR) or SecureBoost on this machine.

Runs ``scripts/fate-baseline run-lr|run-sbt``, which drives FATE's multiprocess launcher in the
FATE venv (installed by ``scripts/fate-baseline install``, outside this project's venv), and
returns its figures: wall and CPU seconds, per-epoch or per-tree seconds, holdout AUC, FATE
version, key length and load average. The speed goals compare `powerfl bench hetero-lr` and
`powerfl bench secureboost` with these figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from airflow_provider_powerfl.exceptions import ConfigError, PowerFLError
from bench import REPO

SCRIPT = REPO / "scripts" / "fate-baseline"
VENV = Path(os.environ.get("FATE_VENV", "/work/fate-venv"))
COMMANDS = {"hetero-lr": "run-lr", "secureboost": "run-sbt", "hetero-nn": "run-nn"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--algorithm", required=True, choices=tuple(COMMANDS))
    parser.add_argument(
        "--dataset", default=None, choices=("a9a", "default_credit"), help="default: a9a for LR, default_credit otherwise"
    )
    parser.add_argument("--epochs", type=int, default=None, help="epochs (hetero-lr: 10, hetero-nn: 5)")
    parser.add_argument("--batch-size", type=int, default=None, help="hetero-lr: 4096 (ours on a9a), hetero-nn: 512")
    parser.add_argument("--learning-rate", type=float, default=None, help="hetero-nn: 0.005 (bench hetero-nn's)")
    parser.add_argument("--rows", type=int, default=None, help="hetero-nn: bench hetero-nn --rows's subset of train rows")
    parser.add_argument("--trees", type=int, default=30, help="secureboost trees (FATE's default_credit config: 30)")
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--bins", type=int, default=32)
    parser.add_argument("--key-length", type=int, default=None, help="default: 2048 for LR and NN, FATE's 1024 for SecureBoost")


def run(args: argparse.Namespace) -> dict[str, Any]:
    if not (VENV / "bin" / "python").exists():
        raise ConfigError(f"FATE venv {VENV} is not installed: run `scripts/fate-baseline install` (or set FATE_VENV)")
    nn = args.algorithm == "hetero-nn"
    epochs, batch = args.epochs or (5 if nn else 10), args.batch_size or (512 if nn else 4096)
    cmd = [str(SCRIPT), COMMANDS[args.algorithm], "--epochs", str(epochs), "--batch-size", str(batch),
           "--trees", str(args.trees), "--depth", str(args.depth), "--bins", str(args.bins)]  # fmt: skip
    if nn:  # bench hetero-nn's default_credit network and optimiser (SETTINGS there)
        cmd += ["--rows", str(getattr(args, "rows", None) or 0)]
        cmd += [
            "--learning-rate",
            str(args.learning_rate or 0.005),
            "--bottom-hidden",
            "32",
            "--top-hidden",
            "16",
            "--units",
            "4",
        ]
    if args.dataset:
        cmd += ["--dataset", args.dataset]
    if args.key_length:
        cmd += ["--key-length", str(args.key_length)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)  # FATE's logs go to stderr, shown live
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise PowerFLError(f"FATE baseline failed (exit {proc.returncode}): {' '.join(cmd)}")
    result = json.loads(lines[-1])
    rate = f"{result['epoch_seconds']} s/epoch" if "epoch_seconds" in result else f"{result['tree_seconds']} s/tree"
    print(f"FATE {result['fate_version']} {result['algorithm']} on {result['dataset']}, {result['key_length']}-bit: "
          f"{result['wall_seconds']} s wall ({result['cpu_seconds_sampled']} CPU-s sampled), fit {result['fit_seconds']} s, {rate}, "
          f"AUC {result['auc']}; load {result['load_before']} -> {result['load_after']}")  # fmt: skip
    return result
