"""``powerfl job submit|status|stop``: drive a party's Airflow through its REST API v2.

The Airflow is ``--url`` (``$POWERFL_AIRFLOW_URL``, default
http://127.0.0.1:8080) with ``--user``/``$POWERFL_AIRFLOW_USER`` (admin) and
``$POWERFL_AIRFLOW_PASSWORD``. A job started at one party starts at every
party of the job (invitation + listener); stopping it at one stops it at all.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from airflow_provider_powerfl.exceptions import ConfigError

if TYPE_CHECKING:
    from airflow_provider_powerfl.orchestration.rest import AirflowRestClient

DEFAULT_PIPELINE = "powerfl_pipeline_hetero_lr"


def add_job_commands(subparsers: Any) -> Any:
    """Add ``job`` with ``submit``, ``status`` and ``stop`` to the ``powerfl`` parser's subcommands; returns its subcommands."""
    job = subparsers.add_parser("job", help="submit, follow and stop multi-party jobs through Airflow's REST API")
    jobs = job.add_subparsers(dest="job_command", required=True)

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--url", default=os.environ.get("POWERFL_AIRFLOW_URL", "http://127.0.0.1:8080"), help="this party's Airflow"
        )
        parser.add_argument("--user", default=os.environ.get("POWERFL_AIRFLOW_USER", "admin"))
        parser.add_argument(
            "--pipeline", default=None, help=f"DAG id (default: the job file's 'pipeline', else {DEFAULT_PIPELINE})"
        )

    submit = jobs.add_parser("submit", help="trigger a pipeline run with a job conf (YAML or JSON, PowerFL's format)")
    submit.add_argument("job_file", type=Path)
    submit.add_argument("--job-id", help="override the file's job_id (default: the file's, else the run id)")
    submit.add_argument("--wait", action="store_true", help="wait until the run ends; exit 1 if it failed")
    submit.add_argument("--timeout", type=float, default=3600, help="seconds to wait with --wait")
    common(submit)
    submit.set_defaults(func=_submit)

    validate = jobs.add_parser("validate", help="check a job file (and the pipeline it starts) as submit would, offline")
    validate.add_argument("job_file", type=Path)
    validate.add_argument("--pipeline-file", type=Path, help="the pipeline YAML the job starts: check every step's parameters")
    validate.set_defaults(func=_validate)

    status = jobs.add_parser("status", help="the run's state and its task states")
    status.add_argument("job_id")
    common(status)
    status.set_defaults(func=_status)

    stop = jobs.add_parser("stop", help="stop the run here; the other parties' runs stop too")
    stop.add_argument("job_id")
    common(stop)
    stop.set_defaults(func=_stop)
    return jobs


# The Airflow-side modules are imported where used: every `powerfl` process (and every
# process a benchmark spawns, which re-imports the `powerfl` script) would import Airflow
# (12 s at load 5 on 2 cores, before a PSI party or crypto worker starts working).
def _client(args: argparse.Namespace) -> AirflowRestClient:
    from airflow_provider_powerfl.orchestration.rest import AirflowRestClient

    password = os.environ.get("POWERFL_AIRFLOW_PASSWORD")
    if password is None:
        raise ConfigError("POWERFL_AIRFLOW_PASSWORD: must hold the password of --user for POST /auth/token")
    return AirflowRestClient(args.url, args.user, password)


def load_job_file(path: Path) -> tuple[str | None, dict[str, Any]]:
    """(pipeline, conf) from a job file; ``pipeline`` is not part of the conf."""
    from airflow_provider_powerfl.jobs.conf import JobConf

    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read job file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"job file {path} is not valid YAML/JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"job file {path}: expected a mapping (job_id, parties, common-args, parties-args)")
    pipeline = data.pop("pipeline", None)
    try:
        JobConf.from_conf(data, default_job_id="(the run id)")
    except ConfigError as exc:
        raise ConfigError(f"job file {path}: {exc}") from exc
    if "nonce" in data:  # kept in a file, it would recur in every run of it
        raise ConfigError(f"job file {path}: nonce: drawn afresh per run by powerfl job submit; remove it")
    return (str(pipeline) if pipeline else None), data


def _submit(args: argparse.Namespace) -> int:
    pipeline, conf = load_job_file(args.job_file)
    dag_id = args.pipeline or pipeline or DEFAULT_PIPELINE
    if args.job_id:
        conf["job_id"] = args.job_id
    from airflow_provider_powerfl.federation.envelope import new_nonce

    conf["nonce"] = new_nonce().hex()  # the run's: every message and event of it carries this
    with _client(args) as client:
        run = client.trigger(dag_id, conf, run_id=conf.get("job_id") or None)
        print(f"submitted job {run['dag_run_id']} of {dag_id} at {args.url} ({run['state']})")
        if not args.wait:
            return 0
        run = client.wait_run(dag_id, run["dag_run_id"], timeout=args.timeout, poll=3.0)
        print(f"job {run['dag_run_id']}: {run['state']}")
        return 0 if run["state"] == "success" else 1


def _validate(args: argparse.Namespace) -> int:
    """Exit 0 when the job file would be accepted; a ConfigError (one line, exit 1) names the bad key otherwise."""
    from airflow_provider_powerfl.jobs.conf import check_job
    from airflow_provider_powerfl.jobs.pipeline import PipelineDef

    _, conf = load_job_file(args.job_file)
    if args.pipeline_file is not None:
        pipeline = PipelineDef.from_yaml(args.pipeline_file)
        try:
            check_job(conf, pipeline)
        except ConfigError as exc:
            raise ConfigError(f"job file {args.job_file}: {exc}") from exc
    print(f"{args.job_file}: ok")
    return 0


def _status(args: argparse.Namespace) -> int:
    dag_id = args.pipeline or DEFAULT_PIPELINE
    with _client(args) as client:
        run = client.run(dag_id, args.job_id)
        tasks = {ti["task_id"]: ti["state"] for ti in client.task_instances(dag_id, args.job_id)}
    print(json.dumps({"job_id": args.job_id, "pipeline": dag_id, "state": run["state"], "tasks": tasks}, indent=2))
    return 0


def _stop(args: argparse.Namespace) -> int:
    dag_id = args.pipeline or DEFAULT_PIPELINE
    with _client(args) as client:
        run = client.stop(dag_id, args.job_id)
    print(f"job {args.job_id} of {dag_id}: {run['state']}; the other parties' runs stop when they hear of it")
    return 0
