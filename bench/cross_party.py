"""A state change at one party, seen at the other: pause / resume / stop of a running job across two real parties.

Two real party Airflows (tests/support/parties.py's launcher), each on its own broker, run a real hetero-LR
job (long enough to outlast the measuring). Each action is a POST to one party's flow-server; the clock
starts before that POST and stops when the other party's ``GET /flow-server/jobs/{id}`` (polled every
``--poll`` seconds, each poll a full request) first shows it: ``peer_view_s`` when the acting party's state
there (``parties.<actor>.state``) is the new one, ``state_s`` when the job's own state there is. ``--repeat``
rounds of pause at one party then resume at the other (the parties swap roles every round), then one stop.
Goal: <= 5 s.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench import brokers
from bench.flow_party import loadavg
from tests.support.parties import PIPELINE, Party, TwoParties, two_parties, until

GOAL_S = 5.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeat", type=int, default=3, help="rounds of pause (one party) + resume (the other)")
    parser.add_argument("--poll", type=float, default=0.1, help="seconds between the other party's GETs")
    parser.add_argument("--timeout", type=float, default=120.0, help="give up on one change after this many seconds")
    parser.add_argument("--brokers", nargs=2, default=["guest", "host"], help="the parties' brokers (scripts/kafka names)")
    parser.add_argument("--json", action="store_true", help="accepted for scripts: the last line printed is always the JSON")


class Api:
    """One party's flow-server over HTTP with its admin's token."""

    def __init__(self, party: Party) -> None:
        self.party = party
        self.http = httpx.Client(base_url=party.api, headers=party.headers(), timeout=60)

    def job(self, job_id: str) -> dict[str, Any] | None:
        response = self.http.get(f"/jobs/{job_id}")
        return None if response.status_code == 404 else response.raise_for_status().json()

    def act(self, job_id: str, action: str) -> httpx.Response:
        return self.http.post(f"/jobs/{job_id}/{action}")


def start_job(parties: TwoParties, guest: Api, host: Api, timeout: float) -> str:
    """A long hetero-LR job submitted at the guest with the seed's call; its id once it runs at both parties."""
    params = parties.job_parameters(train={"max_iter": 2000})
    files = {"parameters": ("job_parameters.yaml", yaml.safe_dump(params), "application/yaml")}
    response = guest.http.post(f"/pipelines/{PIPELINE}/jobs", files=files)
    job_id = response.raise_for_status().json()["job_id"]
    for api in (guest, host):
        until(lambda api=api: (api.job(job_id) or {}).get("state") == "running", timeout, f"{job_id} to run at {api.party.role}")
    return job_id


def change(job_id: str, actor: Api, other: Api, action: str, expected: str, poll: float, timeout: float) -> dict[str, Any]:
    """Seconds from `action` at `actor` until `other` shows `expected` for the actor (peer view) and for the job."""
    started = time.monotonic()
    response = actor.act(job_id, action)
    while response.status_code == 409 and action != "stop" and time.monotonic() - started < timeout:
        time.sleep(poll)  # the invite task has not drawn the run's nonce yet: the action is refused until it has
        started = time.monotonic()
        response = actor.act(job_id, action)
    reply = response.raise_for_status().json()
    acted = time.monotonic() - started
    seen: dict[str, float] = {}
    last: dict[str, Any] = {}
    while len(seen) < 2 and time.monotonic() - started < timeout:
        last = other.job(job_id) or {}
        now = time.monotonic() - started
        if (last.get("parties", {}).get(actor.party.party_id) or {}).get("state") == expected:
            seen.setdefault("peer_view_s", now)
        if last.get("state") == expected:
            seen.setdefault("state_s", now)
        if len(seen) < 2:
            time.sleep(poll)
    where = f"{action} at {actor.party.role} -> {other.party.role}"
    out = {"change": where, "action_s": round(acted, 3), "changed": reply.get("changed"), "load": loadavg()}
    out.update({k: round(seen[k], 3) if k in seen else None for k in ("peer_view_s", "state_s")})
    print(f"{where}: POST {acted:.2f} s, the other party's view of the actor {out['peer_view_s']} s, "
          f"its job state {out['state_s']} s (load {out['load']})", flush=True)  # fmt: skip
    if not seen:
        raise RuntimeError(f"{where}: not shown after {timeout:g}s; last view: {last}")
    return out


def measure(parties: TwoParties, repeat: int, poll: float, timeout: float) -> list[dict[str, Any]]:
    guest, host = Api(parties.guest), Api(parties.host)
    try:
        job_id = start_job(parties, guest, host, 600)
        print(f"job {job_id} runs at both parties (load {loadavg()})", flush=True)
        changes = []
        for round_ in range(repeat):
            first, second = (guest, host) if round_ % 2 == 0 else (host, guest)
            changes.append(change(job_id, first, second, "pause", "paused", poll, timeout))
            changes.append(change(job_id, second, first, "resume", "running", poll, timeout))
        changes.append(change(job_id, guest, host, "stop", "failed", poll, timeout))
        return changes
    finally:
        guest.http.close()
        host.http.close()


def _stats(values: list[float | None]) -> dict[str, Any]:
    seen = [v for v in values if v is not None]
    if not seen:
        return {"median_s": None, "max_s": None, "missing": len(values)}
    return {"median_s": round(statistics.median(seen), 3), "max_s": round(max(seen), 3), "missing": len(values) - len(seen)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.ERROR)
    root = Path(tempfile.mkdtemp(prefix="powerfl-bench-cross-party-"))
    addrs = brokers(*args.brokers)
    load_before = loadavg()
    started = time.monotonic()
    with two_parties(root, {"guest": addrs[0], "host": addrs[1]}) as parties:
        print(f"two parties up in {time.monotonic() - started:.0f} s: {parties.guest.url}, {parties.host.url}", flush=True)
        changes = measure(parties, args.repeat, args.poll, args.timeout)
    peer = _stats([c["peer_view_s"] for c in changes])
    state = _stats([c["state_s"] for c in changes])
    return {
        "bench": "cross-party",
        "repeat": args.repeat,
        "poll_s": args.poll,
        "changes": changes,
        "peer_view": peer,
        "state": state,
        "median_s": peer["median_s"],
        "max_s": peer["max_s"],
        "goal_s": GOAL_S,
        "goal_met": peer["max_s"] is not None and peer["max_s"] <= GOAL_S and not peer["missing"],
        "load": {"before": load_before, "after": loadavg()},
    }
