"""The encrypted pieces of federated WOE/IV: packed labels, per-bin ciphertext sums, decoding.

The guest packs each row's label pair into one plaintext, ``m = (1 - y) + y * 2^B`` with
``B = bit_length(rows)``, so a sum over any set of rows is ``non_events + events * 2^B`` and
neither field can carry into the other. (The library's ``Packer`` unpacks with a known number of
additions; here that number is the bin's row count, which is what the guest is computing.)

A host multiplies the ciphertexts of the rows of each bin (additions only). Per feature its
largest bin is not summed but derived as ``total * (product of the other bins)^-1``: the total
over all rows is shared by every feature, so a feature costs one multiplication per row outside
its largest bin (sparse data: per non-default value) plus one inversion.
"""

from __future__ import annotations

from collections.abc import Sequence

import gmpy2
import numpy as np
from gmpy2 import mpz

from airflow_provider_powerfl.algorithms.paillier_kernels import ChunkMap, object_array
from airflow_provider_powerfl.crypto.errors import EncodingOverflowError


def label_shift(rows: int) -> int:
    """B: the width of the non-event field for ``rows`` rows."""
    return max(int(rows).bit_length(), 1)


def pack_labels(y: np.ndarray) -> list[int]:
    """One plaintext per row: (1 - y) + y * 2^B."""
    shift = label_shift(len(y))
    one, event = 1, 1 << shift
    return [event if v else one for v in (np.asarray(y) == 1).tolist()]


def unpack_counts(sums: Sequence[int], rows: int) -> tuple[np.ndarray, np.ndarray]:
    """(events, non-events) from decrypted per-bin sums; refuses a field that cannot be a count."""
    shift = label_shift(rows)
    mask = (1 << shift) - 1
    events = np.empty(len(sums), dtype=np.int64)
    non_events = np.empty(len(sums), dtype=np.int64)
    for i, value in enumerate(sums):
        value = int(value)
        e, ne = value >> shift, value & mask
        if value < 0 or e + ne > rows:
            raise EncodingOverflowError(f"bin sum {i} does not decode to counts of at most {rows} rows")
        events[i], non_events[i] = e, ne
    return events, non_events


def _bin_products(args: tuple[mpz, list[mpz], np.ndarray, np.ndarray, np.ndarray]) -> tuple[mpz, list[list[mpz]]]:
    """One chunk of rows: (product of all ciphertexts, per feature the product per bin, skipping its largest bin)."""
    nsq, cts, bins, n_bins, largest = args
    total = mpz(1)
    for c in cts:
        total = total * c % nsq
    out = []
    for j in range(bins.shape[1]):
        acc = [mpz(1)] * int(n_bins[j])
        skip = int(largest[j])
        for c, b in zip(cts, bins[:, j].tolist(), strict=True):
            if b != skip:
                acc[b] = acc[b] * c % nsq
        out.append(acc)
    return total, out


def bin_sums(
    nsquare: mpz, ciphertexts: np.ndarray, bins: np.ndarray, n_bins: np.ndarray, chunk_map: ChunkMap, chunk_rows: int
) -> list[np.ndarray]:
    """Per feature, the ciphertext sum of every bin (empty bins: 1, an encryption of 0 without randomness)."""
    rows, features = bins.shape
    largest = np.array([np.bincount(bins[:, j], minlength=int(n_bins[j])).argmax() for j in range(features)], dtype=np.int64)
    cts = list(ciphertexts)
    tasks = [(nsquare, cts[i : i + chunk_rows], bins[i : i + chunk_rows], n_bins, largest) for i in range(0, rows, chunk_rows)]
    total = mpz(1)
    acc = [[mpz(1)] * int(n) for n in n_bins]
    for part_total, parts in chunk_map(_bin_products, tasks):
        total = total * part_total % nsquare
        for j, part in enumerate(parts):
            acc[j] = [a * b % nsquare for a, b in zip(acc[j], part, strict=True)]
    out = []
    for j in range(features):
        others = mpz(1)
        for b, value in enumerate(acc[j]):
            if b != largest[j]:
                others = others * value % nsquare
        acc[j][int(largest[j])] = total * gmpy2.invert(others, nsquare) % nsquare
        out.append(object_array(acc[j]))
    return out
