"""ECDH-PSI over X25519: commutative double encryption of hashed ids, two or more parties.

Inputs are the parties' distinct id digests (n, 32), already in a secret random
order so positions in a stream say nothing. See docs/protocols/psi.md for the
message flow and what each party learns.
"""

from __future__ import annotations

import time

import numpy as np

from airflow_provider_powerfl.algorithms.alignment import streams
from airflow_provider_powerfl.algorithms.alignment.checks import recv_positions, recv_size
from airflow_provider_powerfl.algorithms.alignment.errors import ProtocolViolation
from airflow_provider_powerfl.algorithms.alignment.ids import as_keys, match
from airflow_provider_powerfl.algorithms.alignment.parallel import Workers
from airflow_provider_powerfl.crypto import x25519
from airflow_provider_powerfl.federation.party import Party

W = x25519.POINT_BYTES
_T = "psi/ecdh/"


def _raise_stream(
    party: Party, src: str, tag: str, scalar: bytes, workers: Workers, timeout: float | None, rows: int | None = None
) -> np.ndarray:
    """Receive a token stream and multiply every row by `scalar`, batch by batch."""
    total = streams.recv_header(party, src, tag, W, timeout)
    if rows is not None and total != rows:
        raise ProtocolViolation(party, src, tag, f"announced {total} rows where {rows} were due")
    out = np.empty((total, W), dtype=np.uint8)
    offset = 0
    for batch in streams.batches(party, src, tag, W, total, timeout):
        out[offset : offset + len(batch)] = workers.multiply(scalar, batch)
        offset += len(batch)
    return out


def _send_raised(
    party: Party,
    dst: str,
    tag: str,
    scalar: bytes,
    digests: np.ndarray,
    workers: Workers,
    batch_size: int,
    keep: bool = True,
) -> np.ndarray | None:
    """Multiply `digests` by `scalar` batch by batch, sending each batch as soon as it is done."""
    streams.send_header(party, dst, tag, len(digests), W)
    out = np.empty_like(digests) if keep else None
    for start in range(0, len(digests), batch_size):
        batch = workers.multiply(scalar, digests[start : start + batch_size])
        streams.send_batch(party, dst, tag, batch)
        if out is not None:
            out[start : start + len(batch)] = batch
    return out


def _sorted_rows(rows: np.ndarray) -> np.ndarray:
    """Rows sorted by value: a permutation no party without every key applied can predict."""
    return rows[np.argsort(as_keys(rows), kind="stable")]


def _send_sorted(party: Party, dst: str, tag: str, rows: np.ndarray, batch_size: int) -> None:
    streams.send_rows(party, dst, tag, _sorted_rows(rows), batch_size)


# --- two parties: the guest compares ------------------------------------------------------


def guest_two_party(
    party: Party,
    host: str,
    digests: np.ndarray,
    reveal: str,
    batch_size: int,
    workers: Workers,
    timeout: float | None,
    stats: dict,
) -> tuple[np.ndarray | None, int]:
    """Positions into `digests` of the intersection in the agreed order (None for reveal='size'), and its size."""
    a = x25519.generate_scalar()
    t = time.perf_counter()
    _send_raised(party, host, _T + "x", a, digests, workers, batch_size, keep=False)
    host_ab = _raise_stream(party, host, _T + "y", a, workers, timeout)
    guest_ab = streams.recv_rows(party, host, _T + "xb", W, timeout, rows=len(digests))
    stats["encrypt_s"] = time.perf_counter() - t
    t = time.perf_counter()
    gi, hj = match(guest_ab, host_ab)
    stats["match_s"] = time.perf_counter() - t
    if reveal == "size":
        party.send(host, _T + "size", {"size": len(gi)})
        return None, len(gi)
    party.send(host, _T + "pos", hj)
    return gi, len(gi)


def host_two_party(
    party: Party,
    guest: str,
    digests: np.ndarray,
    reveal: str,
    batch_size: int,
    workers: Workers,
    timeout: float | None,
    stats: dict,
) -> tuple[np.ndarray | None, int]:
    b = x25519.generate_scalar()
    t = time.perf_counter()
    _send_raised(party, guest, _T + "y", b, digests, workers, batch_size, keep=False)
    if reveal == "size":  # sorted, so the guest cannot tell which of its ids matched
        guest_ab = _raise_stream(party, guest, _T + "x", b, workers, timeout)
        _send_sorted(party, guest, _T + "xb", guest_ab, batch_size)
    else:
        head_rows = streams.recv_header(party, guest, _T + "x", W, timeout)
        streams.send_header(party, guest, _T + "xb", head_rows, W)
        for batch in streams.batches(party, guest, _T + "x", W, head_rows, timeout):
            streams.send_batch(party, guest, _T + "xb", workers.multiply(b, batch))
    stats["encrypt_s"] = time.perf_counter() - t
    if reveal == "size":
        return None, recv_size(party, guest, _T + "size", len(digests), timeout)
    pos = recv_positions(party, guest, _T + "pos", len(digests), timeout)
    return pos, len(pos)


# --- several hosts: a filter chain through the hosts; the guest sees only the result -------


def guest_multi_party(
    party: Party,
    hosts: list[str],
    digests: np.ndarray,
    reveal: str,
    batch_size: int,
    workers: Workers,
    timeout: float | None,
    stats: dict,
) -> tuple[np.ndarray | None, int]:
    a = x25519.generate_scalar()
    t = time.perf_counter()
    guest_a = _send_raised(party, hosts[0], _T + "cand", a, digests, workers, batch_size)
    party.send(hosts[0], _T + "cand/pos", np.arange(len(digests), dtype=np.int64))
    host_a: dict[str, np.ndarray] = {}
    for host in hosts:  # each host's set: b_i then a, sorted, then on through hosts[0..i-1]
        host_a[host] = _raise_stream(party, host, _T + "y", a, workers, timeout)
        _send_sorted(party, hosts[0], _T + "route/" + host, host_a[host], batch_size)
    stats["encrypt_s"] = time.perf_counter() - t
    last = hosts[-1]
    if reveal == "size":
        size = recv_size(party, last, _T + "final/size", len(digests), timeout)
        for host in hosts:
            party.send(host, _T + "size", {"size": size})
        return None, size
    final = recv_positions(party, last, _T + "final/pos", len(digests), timeout)
    t = time.perf_counter()
    for host in hosts:  # tell each host where the intersection sits in its own stream
        streams.send_rows(party, host, _T + "announce", guest_a[final], batch_size)
        back = streams.recv_rows(party, host, _T + "announce/back", W, timeout, rows=len(final))
        gi, hj = match(back, host_a[host])
        if len(gi) != len(final):
            raise ProtocolViolation(party, host, _T + "announce/back", f"{len(final) - len(gi)} tokens match no id of the host")
        in_host = np.empty(len(final), dtype=np.int64)
        in_host[gi] = hj
        party.send(host, _T + "announce/pos", in_host)
    stats["announce_s"] = time.perf_counter() - t
    return final, len(final)


def host_multi_party(
    party: Party,
    guest: str,
    hosts: list[str],
    digests: np.ndarray,
    reveal: str,
    batch_size: int,
    workers: Workers,
    timeout: float | None,
    stats: dict,
) -> tuple[np.ndarray | None, int]:
    b = x25519.generate_scalar()
    index = hosts.index(party.party_id)
    prev = guest if index == 0 else hosts[index - 1]
    nxt = hosts[index + 1] if index + 1 < len(hosts) else None
    t = time.perf_counter()
    _send_raised(party, guest, _T + "y", b, digests, workers, batch_size, keep=False)
    # filter: the candidates (guest ids in every earlier host's set) that are also in mine
    cand = _raise_stream(party, prev, _T + "cand", b, workers, timeout)
    cand_pos = recv_positions(party, prev, _T + "cand/pos", 1 << 62, timeout, length=len(cand))
    routed = streams.recv_rows(party, prev, _T + "route/" + party.party_id, W, timeout, rows=len(digests))
    ci, _ = match(cand, routed)  # in the order of the fully encrypted tokens
    stats["running_size"] = len(ci)
    if nxt is not None:
        streams.send_rows(party, nxt, _T + "cand", cand[ci], batch_size)
        party.send(nxt, _T + "cand/pos", cand_pos[ci])
    elif reveal == "size":
        party.send(guest, _T + "final/size", {"size": len(ci)})
    else:
        party.send(guest, _T + "final/pos", cand_pos[ci])
    for later in hosts[index + 1 :]:  # route the later hosts' sets on, one layer more each
        rows = _raise_stream(party, prev, _T + "route/" + later, b, workers, timeout)
        _send_sorted(party, nxt, _T + "route/" + later, rows, batch_size)
    stats["encrypt_s"] = time.perf_counter() - t
    if reveal == "size":
        return None, recv_size(party, guest, _T + "size", len(digests), timeout)
    asked = _raise_stream(party, guest, _T + "announce", b, workers, timeout)
    streams.send_rows(party, guest, _T + "announce/back", asked, batch_size)
    pos = recv_positions(party, guest, _T + "announce/pos", len(digests), timeout, length=len(asked))
    return pos, len(pos)
