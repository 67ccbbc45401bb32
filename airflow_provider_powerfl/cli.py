"""The `powerfl` command line: party keys, jobs and benchmarks."""

from __future__ import annotations

import argparse
import logging
import sys
import threading

from airflow_provider_powerfl.cli_bench import add_bench_commands
from airflow_provider_powerfl.cli_flow import add_flow_commands
from airflow_provider_powerfl.cli_job import add_job_commands
from airflow_provider_powerfl.exceptions import PowerFLError


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


def _step_server(args: argparse.Namespace) -> int:
    import signal

    from airflow_provider_powerfl.runtimes.command import SparkSettings
    from airflow_provider_powerfl.runtimes.step_server import StepServer

    conf = dict(item.split("=", 1) for item in args.conf)
    settings = SparkSettings(master=args.master, conf=conf)
    server = StepServer(args.socket, spares=args.spares, max_age=args.max_age, prewarm=[settings])
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"step server on {args.socket}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
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

    add_flow_commands(commands, add_job_commands(commands))

    archive = commands.add_parser(
        "spark-class-archive", help="dump the class archive that local Spark steps' driver JVMs map (once per machine)"
    )
    archive.add_argument("--force", action="store_true", help="dump it again even if it exists")
    archive.set_defaults(func=_class_archive)

    server = commands.add_parser(
        "step-server", help="serve this party's local steps from warm Spark drivers (the connection's step_server)"
    )
    server.add_argument("--socket", required=True, help="Unix socket path, as the powerfl connection's step_server names it")
    server.add_argument("--spares", type=int, default=1, help="warm drivers kept per Spark settings (default 1)")
    server.add_argument("--max-age", type=float, default=3600.0, help="seconds before an idle spare is replaced")
    server.add_argument("--master", default="local[*]", help="warm these settings from the start (the operators' default)")
    server.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", help="spark.* setting to warm with")
    server.set_defaults(func=_step_server)

    add_bench_commands(commands, bench_name)
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
    try:
        return args.func(args)
    except PowerFLError as exc:  # a user's mistake or a refusal: its message says what to fix, a traceback would bury it
        print(f"powerfl: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
