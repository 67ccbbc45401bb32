"""RSA blind-signature PSI (FATE's classic), two parties: the host signs, the guest compares.

The guest learns F(x) = H'(FDH(x)^d) for its ids by blind signatures and the
host sends F(y) of its own ids; equal tokens are the intersection. Only the
host does heavy work (one CRT signature per id of either party). The guest
refuses a key it cannot trust and checks every signature before it unblinds it
(see recv_public_key, recv_signatures).
"""

from __future__ import annotations

import time

import numpy as np

from airflow_provider_powerfl.algorithms.alignment import streams
from airflow_provider_powerfl.algorithms.alignment.checks import recv_positions
from airflow_provider_powerfl.algorithms.alignment.errors import ProtocolViolation, RsaPeerError
from airflow_provider_powerfl.algorithms.alignment.ids import match
from airflow_provider_powerfl.algorithms.alignment.parallel import Workers
from airflow_provider_powerfl.crypto import rsa_blind
from airflow_provider_powerfl.exceptions import CryptoError
from airflow_provider_powerfl.federation.party import Party

W = rsa_blind.TOKEN_BYTES
_T = "psi/rsa/"
_WINDOW = 2  # blinded batches in flight: keeps the host busy without holding every r^-1 at once


def send_public_key(party: Party, dst: str, tag: str, key: rsa_blind.RsaSigningKey) -> None:
    public = key.public_key
    party.send(dst, tag, {"n": public.n, "e": public.e, "proof": rsa_blind.key_proof(key)})


def recv_public_key(party: Party, src: str, tag: str, timeout: float | None, min_bits: int) -> rsa_blind.RsaPublicKey:
    """The peer's key, refused (RsaPeerError) unless e = 65537, n has >= max(min_bits, 2048) bits and the key proof verifies."""
    msg = party.recv(src, tag, timeout=timeout)
    rounds = rsa_blind.KEY_PROOF_ROUNDS
    if (
        not isinstance(msg, dict)
        or set(msg) != {"n", "e", "proof"}
        or not all(_is_int(msg[k]) for k in ("n", "e"))
        or not isinstance(msg["proof"], list)
        or len(msg["proof"]) != rounds
        or not all(_is_int(s) for s in msg["proof"])
    ):
        raise ProtocolViolation(party, src, tag, f"expected an RSA public key {{'n': int, 'e': int, 'proof': {rounds} ints}}")
    key = rsa_blind.RsaPublicKey(n=int(msg["n"]), e=int(msg["e"]))
    try:
        key.check(min_bits)
        if any(not 0 < s < key.n for s in msg["proof"]):
            raise CryptoError("an RSA key proof value lies outside (0, n)")
        rsa_blind.check_key_proof(key, msg["proof"])
    except CryptoError as err:
        raise RsaPeerError(party, src, tag, str(err)) from err
    return key


def blind_for(
    party: Party, signer: str, tag: str, values: list[int], public: rsa_blind.RsaPublicKey
) -> tuple[list[int], list[int]]:
    """rsa_blind.blind, its refusal of a dishonest modulus named after the signer who sent it on `tag`."""
    try:
        return rsa_blind.blind(values, public)
    except CryptoError as err:
        raise RsaPeerError(party, signer, tag, str(err)) from err


def recv_signatures(
    party: Party, src: str, tag: str, blinded: list[int], public: rsa_blind.RsaPublicKey, timeout: float | None
) -> list[int]:
    """The signer's answer to `blinded`: one signature per value, each checked (s^e == value mod n) before use."""
    signed = recvint_vector(party, src, tag, len(blinded), public.n, timeout)
    if not rsa_blind.verify(signed, blinded, public):
        problem = f"a signature of the {len(blinded)} in this batch does not verify (s^e != blinded value mod n)"
        raise RsaPeerError(party, src, tag, problem)
    return signed


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
    party: Party,
    host: str,
    digests: np.ndarray,
    batch_size: int,
    timeout: float | None,
    stats: dict,
    min_bits: int = rsa_blind.DEFAULT_KEY_BITS,
) -> np.ndarray:
    """Positions into `digests` of the intersection, in the agreed (token) order."""
    public = recv_public_key(party, host, _T + "key", timeout, min_bits)
    t = time.perf_counter()
    starts = list(range(0, len(digests), batch_size))
    party.send(host, _T + "blind", {"batches": len(starts), "rows": len(digests)})
    pending: list[tuple[list[int], list[int]]] = []
    mine = np.empty((len(digests), W), dtype=np.uint8)

    def send_next(k: int) -> None:
        chunk = digests[starts[k] : starts[k] + batch_size]
        blinded, r_inverses = blind_for(party, host, _T + "key", rsa_blind.full_domain_hash(chunk, public), public)
        party.send(host, _T + "blind", int_vector(blinded))
        pending.append((blinded, r_inverses))

    for k in range(min(_WINDOW, len(starts))):
        send_next(k)
    for k, start in enumerate(starts):
        blinded, r_inverses = pending.pop(0)
        signed = recv_signatures(party, host, _T + "signed", blinded, public, timeout)
        mine[start : start + len(blinded)] = rsa_blind.tokens(rsa_blind.unblind(signed, r_inverses, public), public)
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
    party: Party,
    guest_id: str,
    digests: np.ndarray,
    batch_size: int,
    workers: Workers,
    timeout: float | None,
    stats: dict,
    key_bits: int = rsa_blind.DEFAULT_KEY_BITS,
) -> np.ndarray:
    t = time.perf_counter()
    key = rsa_blind.RsaSigningKey.generate(key_bits)
    public = key.public_key
    stats["keygen_s"] = time.perf_counter() - t
    send_public_key(party, guest_id, _T + "key", key)
    t = time.perf_counter()
    head = party.recv(guest_id, _T + "blind", timeout=timeout)
    if (
        not isinstance(head, dict)
        or set(head) != {"batches", "rows"}
        or not all(_is_int(head[k]) and 0 <= head[k] <= streams.MAX_ROWS for k in head)
        or head["batches"] > head["rows"]
        or (head["batches"] == 0) != (head["rows"] == 0)
    ):
        raise ProtocolViolation(party, guest_id, _T + "blind", "expected {'batches': b, 'rows': r} with 1 <= b <= r, or both 0")
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
