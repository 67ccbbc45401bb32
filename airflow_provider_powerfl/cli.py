"""The `powerfl` command line: party keys, jobs and benchmarks."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys

from airflow_provider_powerfl.cli_job import add_job_commands

# bench name on the command line -> module under airflow_provider_powerfl.bench
BENCHMARKS = {
    "channel": "channel",
    "paillier": "paillier",
    "psi": "psi",
    "hetero-lr": "hetero_lr",
    "secureboost": "secureboost",
    "woe-iv": "woe_iv",
    "fate": "fate",
    "attack": "attack",
}


def _keys(args: argparse.Namespace) -> int:
    from airflow_provider_powerfl.federation.keys import generate_party_keys

    private_path, public_path = generate_party_keys(args.out, args.party_id, overwrite=args.force)
    print(f"private key: {private_path}")
    print(f"public key:  {public_path}")
    return 0


def _class_archive(args: argparse.Namespace) -> int:
    from airflow_provider_powerfl.runtimes.class_archive import build_archive

    path, dumped = build_archive(force=args.force)
    print(f"{'dumped' if dumped else 'up to date'}: {path}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from airflow_provider_powerfl.bench import allow_small_keys
    from airflow_provider_powerfl.bench.process_tree import BenchInterrupted, children_stopped_on_signal

    allow_small_keys(getattr(args, "key_length", None) or getattr(args, "key_bits", None), args.bench)
    try:
        with children_stopped_on_signal():
            result = args.bench_module.run(args)
    except BenchInterrupted as stop:
        print(f"powerfl bench {args.bench}: {stop}", file=sys.stderr)
        return 128 + stop.signum  # the shell's convention for "killed by signal N"
    print(json.dumps(result, sort_keys=True))
    return 0


def build_parser(bench_name: str | None = None) -> argparse.ArgumentParser:
    """Build the parser; only the named benchmark's module is imported (they pull in heavy deps)."""
    parser = argparse.ArgumentParser(prog="powerfl", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    commands = parser.add_subparsers(dest="command", required=True)

    keys = commands.add_parser("keys", help="create a party's signing key pair")
    keys.add_argument("party_id", help="this party's id, e.g. 10000")
    keys.add_argument("--out", default=".", help="directory for <party>.key and <party>.pub")
    keys.add_argument("--force", action="store_true", help="overwrite existing key files")
    keys.set_defaults(func=_keys)

    add_job_commands(commands)

    archive = commands.add_parser(
        "spark-class-archive", help="dump the class archive that local Spark steps' driver JVMs map (once per machine)"
    )
    archive.add_argument("--force", action="store_true", help="dump it again even if it exists")
    archive.set_defaults(func=_class_archive)

    bench = commands.add_parser("bench", help="run a benchmark; the last line printed is JSON")
    benches = bench.add_subparsers(dest="bench", required=True)
    for name, module_name in BENCHMARKS.items():
        sub = benches.add_parser(name, help=f"benchmark {name}")
        sub.add_argument("--json", action="store_true", help="accepted for symmetry; the last line is always JSON")
        if name == bench_name:
            module = importlib.import_module(f"airflow_provider_powerfl.bench.{module_name}")
            sub.description = module.__doc__
            module.add_arguments(sub)
            sub.set_defaults(func=_bench, bench_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    words = [word for word in argv if not word.startswith("-")]
    bench_name = words[1] if len(words) > 1 and words[0] == "bench" else None
    args = build_parser(bench_name).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
