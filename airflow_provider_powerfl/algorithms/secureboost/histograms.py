"""A SecureBoost host's encrypted histograms: per node, the product of the rows' (g, h) ciphertexts per bin.

The chunk kernel runs wherever the chunk map sends it (threads, or Spark executors), so it sits in a
module of its own with no state.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
from gmpy2 import mpz

from airflow_provider_powerfl.algorithms.paillier_kernels import ChunkMap
from airflow_provider_powerfl.crypto.multiexp import grouped_products


def _bin_chunk(shared: Any, args: tuple[mpz, list[Any], np.ndarray, np.ndarray]) -> tuple[mpz, list[dict[int, mpz]]]:
    """Product of the chunk's ciphertexts, and per feature the product per non-default bin (zero bins cost nothing),
    all in one native call (crypto.multiexp.grouped_products: no GIL, so chunks on threads use every core).

    The chunk carries its ciphertexts, or (``shared`` given: the tree's, e.g. a Spark broadcast) their positions.
    """
    nsq, cts, bins, default = args
    if shared is not None:
        tree_cts = shared.value
        cts = [tree_cts[i] for i in cts]
    rows, groups, keys = [np.arange(len(cts))], [np.zeros(len(cts), dtype=np.int64)], []  # group 0: every row
    for f in range(bins.shape[1]):
        col = bins[:, f].astype(np.int64)
        idx = np.flatnonzero(col != default[f])
        values, inverse = np.unique(col[idx], return_inverse=True)
        rows.append(idx)
        groups.append(1 + len(keys) + inverse)
        keys.extend((f, b) for b in values.tolist())
    products = grouped_products(cts, np.concatenate(rows), np.concatenate(groups), 1 + len(keys), nsq)
    per_bin: list[dict[int, mpz]] = [{} for _ in range(bins.shape[1])]
    for (f, b), product in zip(keys, products[1:], strict=True):
        per_bin[f][b] = product
    return products[0], per_bin


def _multiply(
    nsq: mpz, a: tuple[mpz, list[dict[int, mpz]]], b: tuple[mpz, list[dict[int, mpz]]]
) -> tuple[mpz, list[dict[int, mpz]]]:
    """Two partial histograms of one node as one (``a``'s dicts updated in place)."""
    (total_a, bins_a), (total_b, bins_b) = a, b
    for acc, theirs in zip(bins_a, bins_b, strict=True):
        for k, c in theirs.items():
            acc[k] = c if k not in acc else acc[k] * c % nsq
    return total_a * total_b % nsq, bins_a


def _bin_span(
    shared: Any, chunk_rows: int, args: tuple[mpz, list[Any], np.ndarray, np.ndarray]
) -> tuple[mpz, list[dict[int, mpz]]]:
    """_bin_chunk over a span of one node's rows, ``chunk_rows`` at a time, multiplied as it goes.

    Why: one chunk's histogram is a ciphertext per feature and bin (~2.7 MB for 20 features of 256 bins
    at 2048 bits), so a result per chunk made the level's results grow with the rows (2.4 GB at the host
    for 100k rows, docs/benchmarks/scale.md); a result per span keeps them at about one per task.
    """
    nsq, at, bins, default = args
    out = None
    for start in range(0, max(len(at), 1), chunk_rows):
        part = _bin_chunk(shared, (nsq, at[start : start + chunk_rows], bins[start : start + chunk_rows], default))
        out = part if out is None else _multiply(nsq, out, part)
    return out  # type: ignore[return-value]


def bin_products(
    chunk_map: ChunkMap,
    chunk_rows: int,
    parts: int,
    nsq: mpz,
    gh: np.ndarray,
    shared: Any,
    row_ct: np.ndarray,
    bins: np.ndarray,
    row_sets: Sequence[np.ndarray],
    default: np.ndarray,
    offsets: Sequence[int] | None = None,
) -> list[tuple[mpz, list[dict[int, mpz]]]]:
    """_bin_span for every node of a level in one pass of the chunk map (one Spark job per level); partials multiplied.

    The level's rows are cut into about ``parts`` spans (the chunk map's parallelism), none across nodes, so
    the map returns at most ``parts`` + nodes histograms whatever the rows. ``shared``: ``gh`` shared by the
    executor (spans then carry positions only), or None. ``offsets``: per node, where its ciphertexts start
    in ``gh`` (a hidden instance space sends every row's per node), else 0.
    """
    span = max(chunk_rows, -(-sum(len(rows) for rows in row_sets) // max(parts, 1)))
    items, owners = [], []
    for k, rows in enumerate(row_sets):
        for start in range(0, max(len(rows), 1), span):
            part = rows[start : start + span]
            at = row_ct[part].tolist() if offsets is None else (row_ct[part] + offsets[k]).tolist()
            items.append((nsq, at if shared is not None else [gh[i] for i in at], bins[part], default))
            owners.append(k)
    out: list[tuple[mpz, list[dict[int, mpz]]] | None] = [None] * len(row_sets)
    for k, product in zip(owners, chunk_map(partial(_bin_span, shared, chunk_rows), items), strict=True):
        out[k] = product if out[k] is None else _multiply(nsq, out[k], product)  # type: ignore[arg-type]
    return out  # type: ignore[return-value]
