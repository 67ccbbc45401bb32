"""``powerfl pipeline push|list`` and ``powerfl job pause|resume|rerun|delete|list|show``: a party's flow-server API.

The party is ``--api`` (``$POWERFL_API``, default http://127.0.0.1:8080), logged in as ``--user``
(``$POWERFL_USER``, default admin) with ``$POWERFL_PASSWORD``; every reply is printed as JSON and an
error reply (``{"detail", "field"}``) exits 1 with its detail. See docs/flow_server.md.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import httpx

from airflow_provider_powerfl.exceptions import ConfigError, PowerFLError

JOB_ACTIONS = {
    "pause": "pause a job at every party: running steps finish, no new step starts (POST /jobs/{id}/pause)",
    "resume": "resume a paused job at every party (POST /jobs/{id}/resume)",
    "rerun": "rerun a failed job from its failed steps at every party (POST /jobs/{id}/rerun)",
}


def add_flow_commands(commands: Any, jobs: Any) -> None:
    """``pipeline`` under `commands` (the ``powerfl`` parser's) and the flow-server job commands under `jobs`."""
    pipeline = commands.add_parser("pipeline", help="push and list pipelines through a party's flow-server API")
    pipelines = pipeline.add_subparsers(dest="pipeline_command", required=True)
    push = pipelines.add_parser("push", help="validate and store a pipeline YAML at the party (POST /pipelines)")
    push.add_argument("file", type=Path)
    push.add_argument("--overwrite", action="store_true", help="replace a different pipeline of the same id")
    _party(push).set_defaults(func=_push)
    _party(pipelines.add_parser("list", help="the party's pipelines")).set_defaults(func=_list_pipelines)

    for action, what in JOB_ACTIONS.items():
        parser = jobs.add_parser(action, help=what)
        parser.add_argument("job_id")
        _party(parser).set_defaults(func=_action, action=action)
    delete = jobs.add_parser("delete", help="delete a finished job's run and outputs at this party")
    delete.add_argument("job_id")
    _party(delete).set_defaults(func=_delete)
    show = jobs.add_parser("show", help="a job at every party: states, steps, errors (GET /jobs/{id})")
    show.add_argument("job_id")
    _party(show).set_defaults(func=_show)
    listing = jobs.add_parser("list", help="the party's jobs, newest first (GET /jobs)")
    listing.add_argument("--state", action="append", help="queued|running|paused|success|failed (repeatable)")
    listing.add_argument("--pipeline")
    listing.add_argument("--limit", type=int, default=50)
    _party(listing).set_defaults(func=_list_jobs)


def _party(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--api", default=os.environ.get("POWERFL_API", "http://127.0.0.1:8080"), help="the party's Airflow")
    parser.add_argument("--user", default=os.environ.get("POWERFL_USER", "admin"))
    return parser


def request(args: argparse.Namespace, method: str, path: str, **kwargs: Any) -> Any:
    """One flow-server call with a token from the party's ``/auth/token``; PowerFLError carries an error reply."""
    password = os.environ.get("POWERFL_PASSWORD")
    if password is None:
        raise ConfigError("POWERFL_PASSWORD: must hold the password of --user")
    base = args.api.rstrip("/")
    try:
        with httpx.Client(base_url=base, timeout=120.0) as client:
            login = client.post("/auth/token", json={"username": args.user, "password": password})
            if login.status_code >= 400:
                raise PowerFLError(f"login as {args.user} at {base}: HTTP {login.status_code}")
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            response = client.request(method, f"/flow-server{path}", headers=headers, **kwargs)
    except httpx.HTTPError as exc:
        raise PowerFLError(f"{method} {base}/flow-server{path}: {exc}") from exc
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text}
    if response.status_code >= 400:
        raise PowerFLError(f"HTTP {response.status_code}: {body.get('detail') if isinstance(body, dict) else body}")
    return body


def _print(body: Any) -> int:
    print(json.dumps(body, indent=2))
    return 0


def _push(args: argparse.Namespace) -> int:
    try:
        content = args.file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {args.file}: {exc.strerror}") from exc
    files = {"file": (args.file.name, content, "application/yaml")}
    return _print(request(args, "POST", "/pipelines", files=files, params={"overwrite": str(args.overwrite).lower()}))


def _list_pipelines(args: argparse.Namespace) -> int:
    return _print(request(args, "GET", "/pipelines"))


def _action(args: argparse.Namespace) -> int:
    return _print(request(args, "POST", f"/jobs/{args.job_id}/{args.action}"))


def _delete(args: argparse.Namespace) -> int:
    return _print(request(args, "DELETE", f"/jobs/{args.job_id}"))


def _show(args: argparse.Namespace) -> int:
    return _print(request(args, "GET", f"/jobs/{args.job_id}"))


def _list_jobs(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"limit": args.limit, "state": args.state or []}
    if args.pipeline:
        params["pipeline"] = args.pipeline
    return _print(request(args, "GET", "/jobs", params=params))
