"""``powerfl bench NAME``: the benchmarks of a source checkout's top-level ``bench/`` package.

The benchmarks read the checkout's scripts (Kafka, FATE), data sets and spark_jobs, so they are
not in the wheel: an editable install (``make install``) runs them from its checkout, any other
install says so in one line and exits non-zero.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

import airflow_provider_powerfl

# bench name on the command line -> module of the checkout's bench package
BENCHMARKS = {
    "channel": "channel",
    "paillier": "paillier",
    "psi": "psi",
    "hetero-lr": "hetero_lr",
    "hetero-nn": "hetero_nn",
    "secureboost": "secureboost",
    "woe-iv": "woe_iv",
    "fate": "fate",
    "attack": "attack",
    "flow-server-jobs": "flow_server_jobs",
    "cross-party": "cross_party",
    "load": "load",
    "scale": "scale",
    "defaults": "defaults",
    "tee": "tee",
    "secretflow": "secretflow",
    "startup": "startup",
}
NO_CHECKOUT = "powerfl bench runs from a source checkout (make install); this install has no bench/"


def checkout() -> Path | None:
    """The source checkout this package is installed from (editable install), if it holds bench/."""
    root = Path(airflow_provider_powerfl.__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() and (root / "bench" / "__init__.py").is_file() else None


def add_bench_commands(subparsers: Any, bench_name: str | None) -> None:
    """Add ``bench NAME``; only the named benchmark's module is imported (they pull in heavy deps)."""
    bench = subparsers.add_parser("bench", help="run a benchmark (source checkouts only); the last line printed is JSON")
    benches = bench.add_subparsers(dest="bench", required=True)
    root = checkout()
    for name, module_name in BENCHMARKS.items():
        sub = benches.add_parser(name, help=f"benchmark {name}")
        if name != bench_name:
            continue
        if root is None:
            raise SystemExit(NO_CHECKOUT)  # stderr, exit status 1
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        module = importlib.import_module(f"bench.{module_name}")
        sub.description = module.__doc__
        module.add_arguments(sub)
        sub.set_defaults(func=_bench, bench_module=module)


def _bench(args: argparse.Namespace) -> int:
    from bench import allow_small_keys
    from bench.process_tree import BenchInterrupted, children_stopped_on_signal

    allow_small_keys(getattr(args, "key_length", None) or getattr(args, "key_bits", None), args.bench)
    try:
        with children_stopped_on_signal():
            result = args.bench_module.run(args)
    except BenchInterrupted as stop:
        print(f"powerfl bench {args.bench}: {stop}", file=sys.stderr)
        return 128 + stop.signum  # the shell's convention for "killed by signal N"
    print(json.dumps(result, sort_keys=True))
    return 0
