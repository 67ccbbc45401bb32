"""The encrypted interactive layer's Paillier steps (docs/protocols/hetero_nn.md, "Encrypted mode").

Per host the interactive weights are W = V U with V the guest's secret and U the host's. Setup, once per
direction: the key owner O encrypts its factor F entry by entry, shifted to every slot position
([[F_al 2^shift(q, b)]]_O); the other party P multiplies them into ``rows * units`` packed bases
[[sum_b (F G)_ab 2^shift(q, b)]]_O with its own factor G as exponents, and rerandomizes each base with a
uniform r^n (so the owner cannot relate later results to its own encryptions' randomness). Per batch, P
raises the bases to its rows' encoded values x (the host's bottom output, or the guest's noised gradient)
in one multi-exponentiation per group of ``rows`` rows: [[sum_q sum_b (x_q F G)_b 2^shift(q, b)]]_O, adds the
slot offsets and sends it; O decrypts one ciphertext per ``rows`` rows. Forward: O = guest, F = V, G = U, so
the guest learns t = a W. Backward: O = host, F = U^T, G = V^T, so the host learns e = delta W^T.
"""

from __future__ import annotations

import numpy as np
from gmpy2 import mpz

from airflow_provider_powerfl.algorithms import paillier_kernels as pk
from airflow_provider_powerfl.algorithms.hetero_nn.packing import Layout, group_exponents
from airflow_provider_powerfl.crypto.multiexp import multiexp_columns
from airflow_provider_powerfl.crypto.paillier import PaillierPublicKey
from airflow_provider_powerfl.crypto.paillier_private import PaillierPrivateKey


class Runner:
    """This party's Paillier kernels and its chunk map, split into one chunk per worker for the rows' products."""

    def __init__(self, executor: object = None) -> None:
        self.kernels = pk.Kernels(executor)
        self.map, _ = pk.as_chunk_map(executor)
        self.parts = getattr(executor, "parallelism", None) or 4


def shifted_encryptions(kernels: pk.Kernels, key: PaillierPrivateKey, factor: np.ndarray, layout: Layout) -> np.ndarray:
    """The owner's [[F_ak 2^shift(q, b)]] for a, k, q, b (flat, in that order): units^3 * rows owner encryptions."""
    u, rows = layout.units, layout.rows
    values = [int(factor[a, k]) << layout.shift(q, b) for a in range(u) for k in range(u) for q in range(rows) for b in range(u)]
    return kernels.encrypt(key, values)


def combine_bases(public: PaillierPublicKey, encrypted: np.ndarray, own: np.ndarray, layout: Layout) -> list[mpz]:
    """P's packed bases [[sum_b (F G)_ab 2^shift(q, b)]] for (a, q), flat a-major, rerandomized with uniform r^n."""
    u, rows, nsq = layout.units, layout.rows, public.nsquare
    grid = encrypted.reshape(u, u, rows, u)  # [a, l, q, b]
    exponents = np.asarray(own, dtype=np.int64).reshape(-1, 1)  # G[l, b], l-major like the bases below
    bases = [multiexp_columns(list(grid[a, :, q, :].ravel()), exponents, nsq)[0] for a in range(u) for q in range(rows)]
    return public.rerandomize(bases)


def _rows_chunk(args: tuple[mpz, list[mpz], np.ndarray]) -> list[mpz]:
    modulus, bases, exponents = args
    return multiexp_columns(bases, exponents, modulus)


def rows_product(runner: Runner, public: PaillierPublicKey, bases: list[mpz], values: np.ndarray,
                 layout: Layout) -> np.ndarray:  # fmt: skip
    """[[packed rows of values W-products, offset]]: one ciphertext per ``layout.rows`` rows of ``values`` (int64)."""
    exponents = group_exponents(values, layout)
    groups = exponents.shape[1]
    size = -(-groups // max(1, min(groups, runner.parts)))
    chunks = [(public.nsquare, bases, np.ascontiguousarray(exponents[:, s : s + size])) for s in range(0, groups, size)]
    products = [c for part in runner.map(_rows_chunk, chunks) for c in part]
    offset = layout.offset()
    return pk.add_plain(public, pk.object_array(products), [offset] * len(products))


def decrypt_rows(kernels: pk.Kernels, key: PaillierPrivateKey, received: object, n_rows: int, layout: Layout,
                 peer: str, what: str) -> np.ndarray:  # fmt: skip
    """(n_rows, units) values behind a peer's packed ciphertexts, after checking them (count, units of Z*_{n^2})."""
    cts = pk.check_ciphertexts(key.public_key, received, layout.groups(n_rows), peer=peer, what=what)
    return layout.unpack(kernels.decrypt(key, cts), n_rows, peer)
