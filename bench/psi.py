"""PSI through real Kafka: guest and host as two processes, each reading its own broker.

Ids overlap by half; the result is checked against Python's set intersection.
Reports wall time, ids/s, each party's peak memory (its own ru_maxrss; its
crypto workers' VmHWM summed) and CPU seconds: on a shared machine wall time
depends on the load, CPU seconds do not.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import secrets
import tempfile
import time
from pathlib import Path

import numpy as np

GUEST, HOST = "10000", "20000"
ID_BASE = 10**12  # ids look like 13-digit account numbers


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, default=100_000, help="ids per party (default 100000)")
    parser.add_argument("--protocol", choices=("ecdh", "rsa"), default="ecdh")
    parser.add_argument("--reveal", choices=("ids", "size"), default="ids")
    parser.add_argument("--batch-size", type=int, default=200_000, help="ids per Kafka message batch")
    parser.add_argument("--workers", type=int, default=None, help="crypto processes per party (default: 2 from 100k ids)")
    parser.add_argument("--guest-broker", default="127.0.0.1:19092")
    parser.add_argument("--host-broker", default="127.0.0.1:29092")


def party_ids(party_id: str, rows: int) -> np.ndarray:
    """The guest holds [0, rows), the host [rows/2, rows*3/2), both shuffled."""
    start = 0 if party_id == GUEST else rows // 2
    rng = np.random.default_rng(int(party_id))
    return rng.permutation(np.arange(start, start + rows, dtype=np.int64)) + ID_BASE


def _party_main(party_id: str, registry_data: dict, key_dir: str, job_id: str, args: dict, out_dir: str) -> None:
    from airflow_provider_powerfl.algorithms.alignment import align
    from airflow_provider_powerfl.federation.keys import SigningKey
    from airflow_provider_powerfl.federation.party import Party
    from airflow_provider_powerfl.federation.registry import PartyRegistry

    ids = party_ids(party_id, args["rows"])
    registry = PartyRegistry.from_dict(registry_data)
    key = SigningKey.from_file(Path(key_dir) / f"{party_id}.key")
    t0 = time.perf_counter()
    roles = {GUEST: "guest", HOST: "host"}
    with Party.from_registry(registry, party_id, key, job_id, 1, roles, nonce=bytes.fromhex(args["nonce"])) as party:
        result = align(
            party,
            ids,
            protocol=args["protocol"],
            reveal=args["reveal"],
            batch_size=args["batch_size"],
            workers=args["workers"],
        )
    wall = time.perf_counter() - t0
    found = result.ids if result.ids is not None else np.empty(0, dtype=np.int64)
    np.save(Path(out_dir) / f"{party_id}.npy", np.asarray(found, dtype=np.int64))
    stats = dict(result.stats)
    stats["party_wall_s"] = wall
    stats["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    me, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    stats["cpu_s"] = me.ru_utime + me.ru_stime + workers.ru_utime + workers.ru_stime
    np.save(Path(out_dir) / f"{party_id}.stats.npy", np.array([stats], dtype=object), allow_pickle=True)


def _party_figures(party_id: str, role: str, s: dict) -> dict:
    """One party's figures for the bench's JSON, printed as one line too."""
    print(
        f"{role} {party_id}: {s['distinct_ids']} ids, {s['size']} aligned, align {s['total_s']:.1f}s "
        f"(hash {s['hash_s']:.1f}s, encrypt+exchange {s.get('encrypt_s', 0.0):.1f}s), "
        f"peak RSS {s['peak_rss_mb']:.0f} MB, workers' peak {s['workers_peak_rss_mb']:.0f} MB, CPU {s['cpu_s']:.0f}s"
    )
    return {
        f"{role}_peak_rss_mb": round(s["peak_rss_mb"], 1),
        f"{role}_workers_peak_rss_mb": round(s["workers_peak_rss_mb"], 1),
        f"{role}_encrypt_s": round(s.get("encrypt_s", 0.0), 2),
        f"{role}_hash_s": round(s["hash_s"], 2),
        f"{role}_workers": s["workers"],
        f"{role}_cpu_s": round(s["cpu_s"], 1),
    }


def run(args: argparse.Namespace) -> dict:
    from airflow_provider_powerfl.federation.keys import generate_party_keys

    job_id = f"bench-psi-{secrets.token_hex(4)}"
    brokers = {GUEST: args.guest_broker, HOST: args.host_broker}
    options = {k: getattr(args, k) for k in ("rows", "protocol", "reveal", "batch_size", "workers")}
    options["nonce"] = secrets.token_hex(16)  # the run's, shared by both party processes
    with tempfile.TemporaryDirectory(prefix="powerfl-bench-psi-") as tmp:
        parties = {}
        for party_id, role in ((GUEST, "guest"), (HOST, "host")):
            _, public = generate_party_keys(tmp, party_id)
            parties[party_id] = {"role": role, "bootstrap_servers": brokers[party_id], "public_key": str(public)}
        registry = {"parties": parties}
        print(f"psi bench: {args.rows} ids per party, protocol={args.protocol}, reveal={args.reveal}, job {job_id}")
        ctx = multiprocessing.get_context("spawn")
        procs = [
            ctx.Process(target=_party_main, args=(p, registry, tmp, job_id, options, tmp), name=f"party-{p}") for p in parties
        ]
        t0 = time.perf_counter()
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
        wall = time.perf_counter() - t0
        failed = [proc.name for proc in procs if proc.exitcode != 0]
        if failed:
            raise SystemExit(f"psi bench: {failed} exited with an error (see above)")
        found = {p: np.load(Path(tmp) / f"{p}.npy") for p in parties}
        stats = {p: np.load(Path(tmp) / f"{p}.stats.npy", allow_pickle=True)[0] for p in parties}
    expected_size = len(set(party_ids(GUEST, args.rows).tolist()) & set(party_ids(HOST, args.rows).tolist()))
    if args.reveal == "ids":
        expected = set(party_ids(GUEST, args.rows).tolist()) & set(party_ids(HOST, args.rows).tolist())
        correct = set(found[GUEST].tolist()) == expected and np.array_equal(found[GUEST], found[HOST])
    else:
        correct = all(stats[p]["size"] == expected_size for p in parties)
    out = {
        "bench": "psi",
        "protocol": args.protocol,
        "reveal": args.reveal,
        "rows_per_party": args.rows,
        "intersection": int(stats[GUEST]["size"]),
        "correct": bool(correct),
        "wall_s": round(wall, 2),
        "ids_per_s": round(2 * args.rows / wall, 1),
        # CPU both parties and their workers used: wall time on 2 idle cores is about half of it
        "cpu_s": round(sum(stats[p]["cpu_s"] for p in parties), 1),
    }
    for p, role in ((GUEST, "guest"), (HOST, "host")):
        out.update(_party_figures(p, role, stats[p]))
    print(
        f"wall {wall:.1f}s, {out['ids_per_s']:.0f} ids/s, CPU {out['cpu_s']:.0f}s, intersection {out['intersection']} (expected {expected_size}), correct={correct}"
    )
    return out
