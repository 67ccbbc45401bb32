"""The life of every Spark step: args -> spec -> session -> step -> exit code.

Exit codes are the contract with the Airflow operator: 0 done; 2 a
:class:`PowerFLError` (bad spec, bad data, a peer's refusal...), reported as
one ``POWERFL-ERROR: <message>`` line on stderr for the operator to surface;
anything else is a bug or an infrastructure failure and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

from pyspark.sql import SparkSession

from airflow_provider_powerfl.exceptions import PowerFLError
from airflow_provider_powerfl.federation.errors import PeerFailed, PeerSilent
from airflow_provider_powerfl.jobs.contract import EXIT_OK, EXIT_PEER_FAILED, EXIT_STEP_ERROR, STEP_ERROR_PREFIX
from airflow_provider_powerfl.jobs.params import STEPS, validate_step_params
from airflow_provider_powerfl.jobs.spec import TaskSpec
from spark_jobs.common import startup
from spark_jobs.common.party import tell_peers_failed
from spark_jobs.common.session import build_session

log = logging.getLogger(__name__)

Step = Callable[[SparkSession, TaskSpec, Any], None]  # the step's parameters: its jobs.params model

# "package.module.SomeError: message" as the last lines of an executor's traceback
_RAISED = re.compile(r"^(?P<cls>[A-Za-z_][\w.]*\.[A-Za-z_]\w*): (?P<msg>.+)$", re.MULTILINE)


def run_step(name: str, step: Step, argv: Sequence[str] | None = None, *, federated: bool = True) -> int:
    """Run ``step`` for the spec given as ``--spec``; return the process exit code.

    A federated step that fails tells its peers (spark_jobs.common.party.tell_peers_failed).
    """
    parser = argparse.ArgumentParser(prog=f"spark-submit spark_jobs/run.py {name}", description=step.__doc__)
    parser.add_argument("--spec", required=True, help="task spec file (YAML, or JSON when it ends in .json)")
    args = parser.parse_args(argv)
    startup.mark("main")  # the step's modules are imported
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    spec = None
    try:
        spec = TaskSpec.load(args.spec)
        # checked before the JVM starts and before any peer hears from this party
        params = validate_step_params(name, spec.params) if name in STEPS else None
        spark = build_session(f"powerfl-{name}-{spec.job_id}-{spec.party_id}")
        startup.mark("session")
        try:
            step(spark, spec, params)
        finally:
            startup.report(spark)
            spark.stop()
    except Exception as exc:
        if federated and spec is not None:
            tell_peers_failed(spec, name, exc)
        if isinstance(exc, PowerFLError):
            return _report(exc)
        raised = powerfl_error_in(exc)
        if raised is None:
            raise
        return _report(raised)
    log.info("%s done", name)
    return EXIT_OK


def powerfl_error_in(exc: BaseException) -> PowerFLError | None:
    """The PowerFLError an executor raised, recovered from the Spark exception that wraps it."""
    found = None
    for match in _RAISED.finditer(str(exc)):
        module, _, cls_name = match["cls"].rpartition(".")
        if not module.startswith(("airflow_provider_powerfl", "spark_jobs")):
            continue
        try:
            cls = getattr(importlib.import_module(module), cls_name)
        except (ImportError, AttributeError):
            continue
        if isinstance(cls, type) and issubclass(cls, PowerFLError):
            found = cls(match["msg"])
    return found


def _report(exc: PowerFLError) -> int:
    message = " ".join(str(exc).split()) or type(exc).__name__
    sys.stderr.write(f"{STEP_ERROR_PREFIX}{message}\n")
    sys.stderr.flush()
    return EXIT_PEER_FAILED if isinstance(exc, (PeerFailed, PeerSilent)) else EXIT_STEP_ERROR
