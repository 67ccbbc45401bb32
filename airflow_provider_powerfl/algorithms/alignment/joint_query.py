"""Joint (hidden) query: fetch a host's feature rows for chosen ids without showing the ids.

The host's RSA key turns every id into F(id) = FDH(H(id))^d mod n, an oblivious
PRF: the querier gets F(q) for its ids by blind signatures and never for any
other id. Each host row is sealed with AES-GCM under a key derived from F(id)
and listed under a tag derived from F(id); the querier derives tags and keys
for its ids only, so it opens exactly the rows it asked for. The host sees
only blinded values: it learns how many ids were asked (pad with `pad_to`).
The querier learns the table size (pad with `pad_to`) and which of its ids
the host has. Each signature lets the querier test one id of its choice, so
the host signs at most its own `max_asked` per query, checked before it signs
anything. See docs/protocols/joint_query.md.
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from airflow_provider_powerfl.algorithms.alignment import streams
from airflow_provider_powerfl.algorithms.alignment.align import DEFAULT_BATCH_SIZE, DEFAULT_TIMEOUT
from airflow_provider_powerfl.algorithms.alignment.errors import ProtocolViolation, QueryLimitExceeded
from airflow_provider_powerfl.algorithms.alignment.ids import as_keys, dedupe, domain, hash_ids, match
from airflow_provider_powerfl.algorithms.alignment.parallel import Workers, default_workers
from airflow_provider_powerfl.algorithms.alignment.rsa import (
    blind_for,
    int_vector,
    recv_public_key,
    recv_signatures,
    recvint_vector,
    send_public_key,
)
from airflow_provider_powerfl.crypto import rsa_blind
from airflow_provider_powerfl.exceptions import ConfigError, CryptoError, DataError
from airflow_provider_powerfl.federation.party import Party

TAG_BYTES = 16
NONCE_BYTES = 12
# Ids one query may have signed. Each signature answers "does the host have this id, and its row?"
# for an id of the querier's choice: a querier allowed millions could sweep an enumerable id space
# (phone numbers of a region, national ids of a birth year). A lookup asks for few ids; bulk
# fetches belong to PSI alignment plus training, which reveal no rows.
DEFAULT_MAX_ASKED = 10_000
MAX_WIDTH = 1 << 16  # feature columns a host may announce: bounds what the querier allocates
_T = "query/"


@dataclass(frozen=True)
class QueryResult:
    """rows[i] is the host's row for the i-th asked id (NaN where `found[i]` is False)."""

    rows: np.ndarray
    found: np.ndarray

    @property
    def size(self) -> int:
        return int(self.found.sum())


def _derive(signatures: Sequence[int], public: rsa_blind.RsaPublicKey) -> tuple[np.ndarray, list[bytes]]:
    """Tag and AES key of each F(id); domain-separated so a tag says nothing about its key."""
    width = public.byte_length
    tags, keys = [], []
    for s in signatures:
        raw = int(s).to_bytes(width, "big")
        tags.append(hashlib.sha256(b"powerfl/query-tag/v1\x00" + raw).digest()[:TAG_BYTES])
        keys.append(hashlib.sha256(b"powerfl/query-key/v1\x00" + raw).digest())
    return np.frombuffer(b"".join(tags), dtype=np.uint8).reshape(-1, TAG_BYTES).copy(), keys


def _random_units(count: int, n: int) -> list[int]:
    out: list[int] = []
    while len(out) < count:
        value = secrets.randbelow(n - 1) + 1
        if math.gcd(value, n) == 1:
            out.append(value)
    return out


def _checked_table(ids: Sequence[object] | np.ndarray, rows: np.ndarray, pad_to: int | None, max_asked: int) -> np.ndarray:
    """The served table's rows as float64, refused before anything is sent when it or the limits are malformed."""
    if not isinstance(max_asked, int) or isinstance(max_asked, bool) or max_asked < 1:
        raise ConfigError(f"max_asked must be a positive int, got {max_asked!r}")
    rows = np.asarray(rows, dtype=np.float64)
    if rows.ndim != 2 or len(rows) != len(ids):
        raise DataError(f"rows must be a 2-D array with one row per id, got shape {rows.shape} for {len(ids)} ids")
    if rows.shape[1] > MAX_WIDTH:
        raise DataError(f"rows have {rows.shape[1]} columns, more than a joint query serves ({MAX_WIDTH})")
    if pad_to is not None and pad_to < len(ids):
        raise ConfigError(f"pad_to={pad_to} is smaller than the table's {len(ids)} rows")
    return rows


def serve_rows(
    party: Party,
    querier: str,
    ids: Sequence[object] | np.ndarray,
    rows: np.ndarray,
    *,
    pad_to: int | None = None,
    max_asked: int = DEFAULT_MAX_ASKED,
    key_bits: int = rsa_blind.DEFAULT_KEY_BITS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> int:
    """Answer one joint query from `querier` over the table (ids, rows); returns how many ids were asked.

    max_asked: this host's cap on the values it signs for the querier (dummies included), announced
    with the table; a larger query raises QueryLimitExceeded here before anything is signed.
    """
    rows = _checked_table(ids, rows, pad_to, max_asked)
    digests = hash_ids(ids, domain(party.job_id, "joint_query"))
    first = dedupe(digests)
    key = rsa_blind.RsaSigningKey.generate(key_bits)
    public = key.public_key
    send_public_key(party, querier, _T + "key", key)
    width = rows.shape[1] * 8
    sealed_width = NONCE_BYTES + width + 16
    total = max(len(first), pad_to or 0)
    with Workers(workers if workers is not None else default_workers(len(first), "rsa")) as pool:
        tags, keys = _derive(pool.sign(key, rsa_blind.full_domain_hash(digests[first], public)), public)
        sealed = np.empty((total, sealed_width), dtype=np.uint8)
        for k, (row, aes_key) in enumerate(zip(rows[first], keys, strict=True)):
            nonce = os.urandom(NONCE_BYTES)
            sealed[k] = np.frombuffer(nonce + AESGCM(aes_key).encrypt(nonce, row.tobytes(), None), dtype=np.uint8)
        if total > len(first):  # dummies: random tags and bytes, indistinguishable from real entries
            tags = np.concatenate(
                [tags, np.frombuffer(os.urandom((total - len(first)) * TAG_BYTES), np.uint8).reshape(-1, TAG_BYTES)]
            )
            sealed[len(first) :] = np.frombuffer(os.urandom((total - len(first)) * sealed_width), np.uint8).reshape(
                -1, sealed_width
            )
        order = np.argsort(as_keys(tags), kind="stable")  # hides the table's own order
        party.send(querier, _T + "table", {"rows": total, "width": rows.shape[1], "max_asked": max_asked})
        streams.send_rows(party, querier, _T + "tags", tags[order], batch_size)
        streams.send_rows(party, querier, _T + "sealed", sealed[order], batch_size)
        head = party.recv(querier, _T + "blind", timeout=timeout)
        count = head.get("rows") if isinstance(head, dict) else None
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= streams.MAX_ROWS:
            raise ProtocolViolation(party, querier, _T + "blind", "expected {'rows': int}")
        if count > max_asked:
            raise QueryLimitExceeded(party, party.party_id, querier, count, max_asked)
        blinded = recvint_vector(party, querier, _T + "blind", count, public.n, timeout)
        party.send(querier, _T + "signed", int_vector(pool.sign(key, blinded)))
    return count


def query_rows(
    party: Party,
    host: str,
    ids: Sequence[object] | np.ndarray,
    *,
    pad_to: int | None = None,
    min_key_bits: int = rsa_blind.DEFAULT_KEY_BITS,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> QueryResult:
    """The host's rows for `ids` (in the order asked; duplicates get the same row)."""
    digests = hash_ids(ids, domain(party.job_id, "joint_query"))
    first = dedupe(digests)
    if pad_to is not None and pad_to < len(first):
        raise ConfigError(f"pad_to={pad_to} is smaller than the {len(first)} distinct ids asked")
    public = recv_public_key(party, host, _T + "key", timeout, min_key_bits)
    head = party.recv(host, _T + "table", timeout=timeout)
    if (
        not isinstance(head, dict)
        or set(head) != {"rows", "width", "max_asked"}
        or not all(isinstance(head[k], int) and not isinstance(head[k], bool) and 0 <= head[k] <= streams.MAX_ROWS for k in head)
        or head["width"] > MAX_WIDTH
    ):
        raise ProtocolViolation(party, host, _T + "table", f"expected {{'rows': int, 'width': 0..{MAX_WIDTH}, 'max_asked': int}}")
    width = head["width"]
    tags = streams.recv_rows(party, host, _T + "tags", TAG_BYTES, timeout, rows=head["rows"])
    sealed = streams.recv_rows(party, host, _T + "sealed", NONCE_BYTES + 8 * width + 16, timeout, rows=head["rows"])
    asked = max(len(first), pad_to or 0)
    party.send(host, _T + "blind", {"rows": asked})  # the host refuses a count above its cap too
    if asked > head["max_asked"]:
        raise QueryLimitExceeded(party, host, party.party_id, asked, head["max_asked"])
    fdh = rsa_blind.full_domain_hash(digests[first], public)
    blinded, r_inverses = blind_for(party, host, _T + "key", fdh, public)
    blinded += _random_units(asked - len(first), public.n)  # dummies, alike to blinded values: uniform in Z_n*
    party.send(host, _T + "blind", int_vector(blinded))
    signed = recv_signatures(party, host, _T + "signed", blinded, public, timeout)[: len(first)]
    prf = rsa_blind.unblind(signed, r_inverses, public)
    my_tags, keys = _derive(prf, public)
    qi, tj = match(my_tags, tags)
    distinct_rows = np.full((len(first), width), np.nan)
    distinct_found = np.zeros(len(first), dtype=bool)
    for i, j in zip(qi, tj, strict=True):
        blob = sealed[j].tobytes()
        try:
            plain = AESGCM(keys[i]).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], None)
        except InvalidTag as err:
            raise CryptoError(f"host {host} sent a row for an asked id that does not decrypt (job {party.job_id!r})") from err
        distinct_rows[i] = np.frombuffer(plain, dtype=np.float64)
        distinct_found[i] = True
    # every asked id (duplicates too) reads its distinct id's slot
    _, inverse = np.unique(as_keys(digests), return_inverse=True)
    slot_of_class = np.empty(len(first), dtype=np.int64)
    slot_of_class[inverse[first]] = np.arange(len(first))
    slot = slot_of_class[inverse]
    return QueryResult(rows=distinct_rows[slot], found=distinct_found[slot])
