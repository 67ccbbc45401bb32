"""`align`: the one call every party makes to find the ids all parties share.

The guest leads: it checks that every host asked for the same protocol and
reveal mode, then runs the protocol; each party gets the same intersection in
the same order (the order of the final encrypted tokens, which nobody can
steer), as positions into its own input.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from airflow_provider_powerfl.algorithms.alignment import ecdh, rsa
from airflow_provider_powerfl.algorithms.alignment.errors import ProtocolViolation
from airflow_provider_powerfl.algorithms.alignment.ids import dedupe, domain, hash_ids
from airflow_provider_powerfl.algorithms.alignment.parallel import Workers, default_workers
from airflow_provider_powerfl.crypto.shuffle import secure_permutation
from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.federation.party import Party

log = logging.getLogger(__name__)

PROTOCOLS = ("ecdh", "rsa")
REVEALS = ("ids", "size")
DEFAULT_BATCH_SIZE = 200_000
DEFAULT_TIMEOUT = 3600.0  # per message: a peer may encrypt millions of ids before its next send
_HELLO = "psi/hello"
_VERSION = 1


@dataclass(frozen=True)
class AlignmentResult:
    """What one party learns.

    `positions` index the caller's input (first occurrence of each id) and
    `ids` are the caller's own values there, both in the order every party
    shares; both are None when reveal="size". `size` is the intersection size.
    """

    ids: list | np.ndarray | None
    positions: np.ndarray | None
    size: int
    stats: dict = field(default_factory=dict)


def align(
    party: Party,
    ids: Sequence[object] | np.ndarray,
    *,
    protocol: str = "ecdh",
    reveal: str = "ids",
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> AlignmentResult:
    """Private set intersection of `ids` with the other parties' ids (the same call at every party).

    ids: ints or strs (1 and "1" are one id); duplicates keep their first position.
    protocol: "ecdh" (X25519, any number of hosts) or "rsa" (blind signatures, one host).
    reveal: "ids" (every party learns the intersection) or "size" (only its size; ecdh only).
    workers: processes for the exponentiations (default 2 from 100k ids for ecdh, 5k for rsa; else 1).
    """
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if reveal not in REVEALS:
        raise ConfigError(f"reveal must be one of {REVEALS}, got {reveal!r}")
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ConfigError(f"batch_size must be a positive int, got {batch_size!r}")
    if protocol == "rsa" and reveal == "size":
        raise ConfigError("reveal='size' needs protocol='ecdh': RSA-PSI shows the guest which of its ids matched")
    stats: dict = {"party": party.party_id, "role": party.role, "protocol": protocol, "input_ids": len(ids)}
    t0 = time.perf_counter()
    digests = hash_ids(ids, domain(party.job_id, "psi"))
    unique = dedupe(digests)
    # a secret random order: stream positions then say nothing about input order
    unique = unique[secure_permutation(len(unique))]
    digests = digests[unique]
    stats["distinct_ids"] = len(unique)
    stats["hash_s"] = time.perf_counter() - t0
    with Workers(workers if workers is not None else default_workers(len(unique), protocol)) as pool:
        stats["workers"] = pool.workers
        found, size = _run(party, digests, protocol, reveal, batch_size, pool, timeout, stats)
        stats["workers_peak_rss_mb"] = pool.peak_rss_mb()
    stats["total_s"] = time.perf_counter() - t0
    stats["size"] = size
    log.info("party %s aligned %d of %d distinct ids in %.1fs", party.party_id, size, len(unique), stats["total_s"])
    if found is None:
        return AlignmentResult(ids=None, positions=None, size=size, stats=stats)
    positions = unique[found]
    chosen = ids[positions] if isinstance(ids, np.ndarray) else [ids[i] for i in positions]
    return AlignmentResult(ids=chosen, positions=positions, size=size, stats=stats)


def _run(
    party: Party,
    digests: np.ndarray,
    protocol: str,
    reveal: str,
    batch_size: int,
    pool: Workers,
    timeout: float | None,
    stats: dict,
) -> tuple[np.ndarray | None, int]:
    hosts = party.peers("host")
    if party.role == "guest":
        if not hosts:
            raise ConfigError(f"job {party.job_id!r} has no host to align with")
        if protocol == "rsa" and len(hosts) > 1:
            raise ConfigError(f"protocol='rsa' aligns one host, job {party.job_id!r} has {len(hosts)}: use 'ecdh'")
        _hello_guest(party, hosts, protocol, reveal, timeout)
        if protocol == "rsa":
            found = rsa.guest(party, hosts[0], digests, batch_size, timeout, stats)
            return found, len(found)
        if len(hosts) == 1:
            return ecdh.guest_two_party(party, hosts[0], digests, reveal, batch_size, pool, timeout, stats)
        return ecdh.guest_multi_party(party, hosts, digests, reveal, batch_size, pool, timeout, stats)
    if party.role == "host":
        guests = party.peers("guest")
        if len(guests) != 1:
            raise ConfigError(f"job {party.job_id!r} needs exactly one guest to lead the alignment, has {guests}")
        hosts = sorted(hosts + [party.party_id])
        _hello_host(party, guests[0], protocol, reveal, timeout)
        if protocol == "rsa":
            found = rsa.host(party, guests[0], digests, batch_size, pool, timeout, stats)
            return found, len(found)
        if len(hosts) == 1:
            return ecdh.host_two_party(party, guests[0], digests, reveal, batch_size, pool, timeout, stats)
        return ecdh.host_multi_party(party, guests[0], hosts, digests, reveal, batch_size, pool, timeout, stats)
    raise ConfigError(f"party {party.party_id} has role {party.role!r}: only the guest and hosts align ids")


def _hello_guest(party: Party, hosts: list[str], protocol: str, reveal: str, timeout: float | None) -> None:
    offer = {"version": _VERSION, "protocol": protocol, "reveal": reveal}
    for host in hosts:
        party.send(host, _HELLO, offer)
    for host in hosts:
        answer = party.recv(host, _HELLO, timeout=timeout)
        if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
            raise ProtocolViolation(party, host, _HELLO, "expected {'ok': bool, ...}")
        if not answer["ok"]:
            raise ConfigError(f"host {host} refused the alignment of job {party.job_id!r}: {answer.get('error')}")


def _hello_host(party: Party, guest: str, protocol: str, reveal: str, timeout: float | None) -> None:
    offer = party.recv(guest, _HELLO, timeout=timeout)
    mine = {"version": _VERSION, "protocol": protocol, "reveal": reveal}
    if not isinstance(offer, dict) or set(offer) != set(mine):
        party.send(guest, _HELLO, {"ok": False, "error": "malformed offer"})
        raise ProtocolViolation(party, guest, _HELLO, f"expected an offer with keys {sorted(mine)}")
    wrong = [k for k in mine if offer[k] != mine[k]]
    if wrong:
        error = ", ".join(f"{k}: guest {offer[k]!r} vs host {mine[k]!r}" for k in wrong)
        party.send(guest, _HELLO, {"ok": False, "error": error})
        raise ConfigError(f"party {party.party_id} and guest {guest} disagree on the alignment of job {party.job_id!r}: {error}")
    party.send(guest, _HELLO, {"ok": True})
