"""A warm spare driver for the step server (airflow_provider_powerfl/runtimes/step_server.py).

    spark-submit ... spark_jobs/run.py spare --control SOCKET [--warm-up WARM_SPEC]

Started ahead of time with the party's Spark settings, it pays the start-up a step would pay
(launcher and driver JVM, Python imports, SparkSession, the first Spark jobs' class loading and
code generation, on tiny inputs) while no step waits. Then it prints READY_LINE and blocks on its
control socket until the server hands it one step, ``{"step", "spec", "cwd"}``, runs that step's
``main`` in this process and exits with its exit code: one step per spare, so nothing of a job
stays for the next and a failing step ends only its own process.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import socket
import sys
from collections.abc import Sequence

from airflow_provider_powerfl.jobs.contract import EXIT_STEP_ERROR, STEP_ERROR_PREFIX
from airflow_provider_powerfl.jobs.spec import TaskSpec
from airflow_provider_powerfl.runtimes.step_server import READY_LINE
from spark_jobs.class_archive import warm_up
from spark_jobs.common import startup
from spark_jobs.common.session import build_session
from spark_jobs.run import STEPS

SERVED = tuple(s for s in STEPS if s not in ("class_archive", "spare"))  # the steps a spare may run: run.py's own


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="spark-submit spark_jobs/run.py spare")
    parser.add_argument("--control", required=True, help="Unix socket on which the server hands the step")
    parser.add_argument("--server", type=int, required=True, help="the step server's pid: a spare idle without it exits")
    parser.add_argument("--warm-up", help="task spec of the warm-up (tiny inputs, no peers); none: ready at once")
    args = parser.parse_args(argv)
    spark = build_session("powerfl-spare")
    if args.warm_up:
        warm_up(spark, TaskSpec.load(args.warm_up), None)
    steps = {name: importlib.import_module(f"spark_jobs.{name}") for name in SERVED}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as control:
        control.bind(args.control)
        control.listen(1)
        print(READY_LINE, flush=True)
        conn = _wait_for_order(control, args.server)
        if conn is None:  # the server is gone: nobody will hand this spare a step
            return 0
        with conn, conn.makefile("r", encoding="utf-8") as order_file:
            text = order_file.read()
    startup.mark("assigned")
    if not text:  # the server sent no step: it retires this spare
        return 0
    order = json.loads(text)
    if order.get("step") not in steps:
        sys.stderr.write(f"{STEP_ERROR_PREFIX}step {order.get('step')!r}: a spare runs one of {', '.join(SERVED)}\n")
        return EXIT_STEP_ERROR
    os.chdir(order["cwd"])
    return steps[order["step"]].main(["--spec", order["spec"]])


def _wait_for_order(control: socket.socket, server: int) -> socket.socket | None:
    """The server's connection with the step, or None once the server process has ended."""
    control.settimeout(1.0)
    while True:
        try:
            conn, _ = control.accept()
        except TimeoutError:
            try:
                os.kill(server, 0)
            except ProcessLookupError:
                return None
            continue
        conn.settimeout(None)
        return conn
