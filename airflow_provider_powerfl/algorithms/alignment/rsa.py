"""RSA blind-signature PSI (FATE's classic), two parties: the host signs, the guest compares.

The guest learns F(x) = H'(FDH(x)^d) for its ids by blind signatures and the
host sends F(y) of its own ids; equal tokens are the intersection. Only the
host does heavy work (one CRT signature per id of either party).
"""

from __future__ import annotations

import time

import numpy as np

from airflow_provider_powerfl.algorithms.alignment import streams
from airflow_provider_powerfl.algorithms.alignment.checks import recv_positions
from airflow_provider_powerfl.algorithms.alignment.errors import ProtocolViolation
from airflow_provider_powerfl.algorithms.alignment.ids import match
from airflow_provider_powerfl.algorithms.alignment.parallel import Workers
from airflow_provider_powerfl.crypto import rsa_blind
from airflow_provider_powerfl.exceptions import CryptoError
from airflow_provider_powerfl.federation.party import Party

W = rsa_blind.TOKEN_BYTES
_T = "psi/rsa/"
_WINDOW = 2  # blinded batches in flight: keeps the host busy without holding every r^-1 at once


def recv_public_key(party: Party, src: str, tag: str, timeout: float | None, min_bits: int) -> rsa_blind.RsaPublicKey:
    msg = party.recv(src, tag, timeout=timeout)
    if not isinstance(msg, dict) or set(msg) != {"n", "e"} or not all(isinstance(msg[k], int) for k in ("n", "e")):
        raise ProtocolViolation(party, src, tag, "expected an RSA public key {'n': int, 'e': int}")
    key = rsa_blind.RsaPublicKey(n=int(msg["n"]), e=int(msg["e"]))
    try:
        key.check(min_bits)
    except CryptoError as err:
        raise ProtocolViolation(party, src, tag, str(err)) from err
    return key


def recvint_vector(party: Party, src: str, tag: str, length: int, modulus: int, timeout: float | None) -> list[int]:
    """A vector of `length` integers in (0, modulus)."""
    vec = party.recv(src, tag, timeout=timeout)
    if not isinstance(vec, np.ndarray) or vec.dtype != object or vec.ndim != 1 or len(vec) != length:
        raise ProtocolViolation(party, src, tag, f"expected a vector of {length} big integers")
    values = [int(v) for v in vec]
    if any(not 0 < v < modulus for v in values):
        raise ProtocolViolation(party, src, tag, "an integer lies outside (0, n)")
    return values


def int_vector(values: list[int]) -> np.ndarray:
    """Big integers as the object array the codec sends as fixed-width ints."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def guest(
    party: Party, host: str, digests: np.ndarray, batch_size: int, timeout: float | None, stats: dict,
    min_bits: int = rsa_blind.DEFAULT_KEY_BITS,
) -> np.ndarray:
    """Positions into `digests` of the intersection, in the agreed (token) order."""
    public = recv_public_key(party, host, _T + "key", timeout, min_bits)
    t = time.perf_counter()
    starts = list(range(0, len(digests), batch_size))
    party.send(host, _T + "blind", {"batches": len(starts), "rows": len(digests)})
    pending: list[tuple[int, list[int]]] = []
    mine = np.empty((len(digests), W), dtype=np.uint8)

    def send_next(k: int) -> None:
        chunk = digests[starts[k] : starts[k] + batch_size]
        blinded, r_inverses = rsa_blind.blind(rsa_blind.full_domain_hash(chunk, public), public)
        party.send(host, _T + "blind", int_vector(blinded))
        pending.append((len(chunk), r_inverses))

    for k in range(min(_WINDOW, len(starts))):
        send_next(k)
    for k, start in enumerate(starts):
        count, r_inverses = pending.pop(0)
        signed = recvint_vector(party, host, _T + "signed", count, public.n, timeout)
        mine[start : start + count] = rsa_blind.tokens(rsa_blind.unblind(signed, r_inverses, public), public)
        if k + _WINDOW < len(starts):
            send_next(k + _WINDOW)
    theirs = streams.recv_rows(party, host, _T + "y", W, timeout)
    stats["encrypt_s"] = time.perf_counter() - t
    t = time.perf_counter()
    gi, hj = match(mine, theirs)
    stats["match_s"] = time.perf_counter() - t
    party.send(host, _T + "pos", hj)
    return gi


def host(
    party: Party, guest_id: str, digests: np.ndarray, batch_size: int, workers: Workers, timeout: float | None,
    stats: dict, key_bits: int = rsa_blind.DEFAULT_KEY_BITS,
) -> np.ndarray:
    t = time.perf_counter()
    key = rsa_blind.RsaSigningKey.generate(key_bits)
    public = key.public_key
    stats["keygen_s"] = time.perf_counter() - t
    party.send(guest_id, _T + "key", {"n": public.n, "e": public.e})
    t = time.perf_counter()
    head = party.recv(guest_id, _T + "blind", timeout=timeout)
    if not isinstance(head, dict) or set(head) != {"batches", "rows"} or not all(
        isinstance(head[k], int) and 0 <= head[k] <= streams.MAX_ROWS for k in head
    ):
        raise ProtocolViolation(party, guest_id, _T + "blind", "expected {'batches': int, 'rows': int}")
    remaining = head["rows"]
    for _ in range(head["batches"]):  # the guest's blinded ids first: it waits on them
        vec = party.recv(guest_id, _T + "blind", timeout=timeout)
        if not isinstance(vec, np.ndarray) or vec.dtype != object or vec.ndim != 1 or not 0 < len(vec) <= remaining:
            raise ProtocolViolation(party, guest_id, _T + "blind", f"expected a vector of at most {remaining} big integers")
        values = [int(v) for v in vec]
        if any(not 0 < v < public.n for v in values):
            raise ProtocolViolation(party, guest_id, _T + "blind", "a blinded value lies outside (0, n)")
        remaining -= len(values)
        party.send(guest_id, _T + "signed", int_vector(workers.sign(key, values)))
    if remaining:
        raise ProtocolViolation(party, guest_id, _T + "blind", f"{remaining} announced rows never came")
    streams.send_header(party, guest_id, _T + "y", len(digests), W)
    for start in range(0, len(digests), batch_size):
        chunk = digests[start : start + batch_size]
        signed = workers.sign(key, rsa_blind.full_domain_hash(chunk, public))
        streams.send_batch(party, guest_id, _T + "y", rsa_blind.tokens(signed, public))
    stats["encrypt_s"] = time.perf_counter() - t
    return recv_positions(party, guest_id, _T + "pos", len(digests), timeout)
