"""Hetero logistic regression without a third party (docs/protocols/hetero_lr.md): what both sides share.

Each party holds its own Paillier key. Per mini-batch the guest sends its residual part
encrypted under its own key; every host completes the residual with its partial score and
gets its gradient back through a masked decryption by the guest; the guest gets its own
gradient (and the batch loss) through a masked decryption by the first host, using the
hosts' partial scores encrypted under that host's key. Nobody sees another party's
features, labels, weights or partial scores in the clear.

This module holds the protocol version, the message tags, the batch plan the guest offers, the key
exchange and the session base both sides run; guest.py and host.py hold each side's messages per
batch, defences.py the label defences (noise, minimum support).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np

from airflow_provider_powerfl.algorithms import fixed_point as fp, masking, paillier_kernels as pk
from airflow_provider_powerfl.algorithms.optimizers import LocalUpdate
from airflow_provider_powerfl.algorithms.progress import ProgressCallback, TrainingProgress, report
from airflow_provider_powerfl.crypto.obfuscator_pool import ObfuscatorPool, ZeroPool
from airflow_provider_powerfl.crypto.paillier import PaillierPublicKey, insecure_test_keys
from airflow_provider_powerfl.crypto.paillier_private import PaillierPrivateKey, generate_keypair
from airflow_provider_powerfl.exceptions import CryptoError, FederationError
from airflow_provider_powerfl.federation.party import Party

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 5  # 4: the plan carries min_support; 5: and average
RESIDUALS = ("taylor", "guest_expansion")


def tag(name: str) -> str:
    return f"hetero_lr.{name}"


@dataclass(frozen=True)
class BatchPlan:
    """The guest's batching, shared with hosts: every party draws the same row order per epoch."""

    n_rows: int
    batch_size: int
    max_iter: int
    tol: float
    seed: int
    weighted: bool
    residual: str = "taylor"
    slope_every: int = 0
    min_support: int = 1  # hosts drop a column's gradient for a batch where 0 < its support < this
    average: float = 0.0  # every party returns the mean of its weights over the steps of this last fraction of epochs

    def refreshes_slopes(self, epoch: int) -> bool:
        """Whether the guest sends new per-row slopes before ``epoch`` (0-based): every slope_every epochs."""
        return self.residual == "guest_expansion" and self.slope_every > 0 and epoch > 0 and epoch % self.slope_every == 0

    @property
    def factored(self) -> bool:
        """Whether the hosts' scores may carry per-row factors (class weights or slopes): sets the sums' bounds."""
        return self.weighted or any(self.refreshes_slopes(epoch) for epoch in range(self.max_iter))

    @property
    def n_batches(self) -> int:
        return max(1, self.n_rows // self.batch_size)

    @property
    def smallest_batch(self) -> int:
        """Batches are near-equal splits, so none is smaller than n_rows // n_batches (>= batch_size if n_rows allows)."""
        return self.n_rows // self.n_batches

    @property
    def largest_batch(self) -> int:
        return -(-self.n_rows // self.n_batches)

    def batches(self, epoch: int) -> list[np.ndarray]:
        order = np.random.default_rng([self.seed, epoch]).permutation(self.n_rows)
        return np.array_split(order, self.n_batches)

    def to_dict(self) -> dict[str, object]:
        return {
            "n_rows": self.n_rows,
            "batch_size": self.batch_size,
            "max_iter": self.max_iter,
            "tol": self.tol,
            "seed": self.seed,
            "weighted": self.weighted,
            "residual": self.residual,
            "slope_every": self.slope_every,
            "min_support": self.min_support,
            "average": self.average,
        }


class TailAverage:
    """The mean of a party's weights over every step of the plan's last ``average`` fraction of epochs (Polyak-Ruppert
    tail averaging): it damps the label noise left in the last iterate, and is post-processing of the party's own
    iterates, so the noise's accounting holds. Without such steps (``average`` 0, or an earlier stop) the last weights."""

    def __init__(self, plan: BatchPlan) -> None:
        self.first_epoch = plan.max_iter - round(plan.average * plan.max_iter)
        self.total: np.ndarray | None = None
        self.steps = 0

    def add(self, epoch: int, w: np.ndarray) -> None:
        if epoch >= self.first_epoch:
            self.total = w.copy() if self.total is None else self.total + w
            self.steps += 1

    def weights(self, last: np.ndarray) -> np.ndarray:
        return last if self.total is None else self.total / self.steps


@dataclass(frozen=True)
class Result:
    weights: np.ndarray  # this party's own, guest's intercept last
    loss_history: list[float]
    n_iter: int


def new_keypair(key_length: int) -> tuple[PaillierPublicKey, PaillierPrivateKey]:
    return generate_keypair(key_length, allow_insecure_key_length=insecure_test_keys())


def peer_key(hex_n: object, party: str, key_length: int) -> PaillierPublicKey:
    """A peer's public key, refused if shorter than this party's own ``key_length``."""
    if not isinstance(hex_n, str):
        raise CryptoError(f"party {party} sent no Paillier public key")
    key = PaillierPublicKey(int(hex_n, 16), allow_insecure_key_length=True)
    if key.n_bits < key_length:
        raise CryptoError(f"party {party} uses a {key.n_bits}-bit Paillier key, shorter than key_length={key_length}")
    return key


def recv_dict(party: Party, src: str, name: str) -> dict:
    """The dict ``src`` sent as ``name``, or a FederationError."""
    obj = party.recv(src, tag(name))
    if not isinstance(obj, dict):
        raise FederationError(f"party {src} sent {type(obj).__name__} as {tag(name)}, expected a dict")
    return obj


def recv_ints(party: Party, src: str, name: str, length: int) -> list[int]:
    """The ``length`` integers ``src`` sent as ``name`` (a 1-D array), or a FederationError."""
    obj = party.recv(src, tag(name))
    if not isinstance(obj, np.ndarray) or obj.shape != (length,):
        raise FederationError(f"party {src} sent a malformed {tag(name)}: expected {length} integers")
    return [int(v) for v in obj]


def decode_sums(values: Sequence[int], frac_bits: np.ndarray) -> np.ndarray:
    """Integer sums at 2^-frac_bits each, as floats."""
    return np.array([v / (1 << int(f)) for v, f in zip(values, frac_bits, strict=True)], dtype=np.float64)


def check_plan(plan: BatchPlan, min_batch_size: int, who: str) -> str | None:
    """Why party ``who`` refuses ``plan`` (batches below its min_batch_size), or None."""
    if plan.smallest_batch < min_batch_size:
        return (
            f"party {who} refuses batches of {plan.smallest_batch} rows (n_rows={plan.n_rows}, "
            f"batch_size={plan.batch_size}): below its min_batch_size={min_batch_size}"
        )
    return None


class Side:
    """What guest and host share: own key, kernels, encoded features, local update."""

    def __init__(self, party: Party, X: np.ndarray, update: LocalUpdate, key_length: int, kernels: pk.Kernels) -> None:
        self.party = party
        self.X = X
        self.update = update
        self.key_length = key_length
        self.kernels = kernels
        self.frac_bits = fp.column_frac_bits(X)
        self.exponents = fp.encode_columns(X, self.frac_bits)
        self.public, self.private = new_keypair(key_length)
        self.pool: ObfuscatorPool | None = None  # this party's own encryptions' obfuscators, made while it waits
        self.zeros: ZeroPool | None = None

    encrypts_own = True  # whether this party's batches encrypt under its own key (the pool's)
    progress: ProgressCallback | None = None  # told after each batch and epoch (algorithms.progress)

    def report(self, done: int, batch: int, loss: float | None) -> None:
        """Tell the progress callback: `done` epochs and `batch` batches of the next, the last epoch's `loss`."""
        report(self.progress, TrainingProgress("epoch", done, self.plan.max_iter, batch, self.plan.n_batches, loss))

    def fit(self) -> Result:
        start = time.perf_counter()
        self.setup()
        log.info("hetero_lr %s setup: %.1f s (key exchange, plan, row factors)", self.party.party_id, time.perf_counter() - start)
        pool = ObfuscatorPool(self.private, self.plan.largest_batch) if self.encrypts_own else nullcontext()
        # the r^n that rerandomize each batch's packed sums for their decryptor, made while this party waits
        peer_key, n_sums = self.masked_for
        zeros = ZeroPool(peer_key, masking.packed_count(n_sums, self.sum_bits, peer_key.n_bits))
        with pool as self.pool, zeros as self.zeros:
            return self._epochs()

    def masked_sums(self, public: PaillierPublicKey, ciphertexts: np.ndarray, peer: str, name: str) -> list[int]:
        """The sums behind ``ciphertexts`` (under ``peer``'s key), decrypted by ``peer`` as packed masked slots."""
        masked, masks = masking.pack_masked(public, ciphertexts, self.sum_bits, self.zeros)
        self.party.send(peer, tag(name), masked)
        plain = recv_ints(self.party, peer, f"{name}_masked", len(masked))
        return masking.unpack(plain, masks, self.sum_bits, public.n_bits, peer)

    def decrypt_for(self, peer: str, name: str, n_values: int) -> None:
        """Decrypt the packed masked sums ``peer`` sends (at most one plaintext per value) and send them back."""
        obj = self.party.recv(peer, tag(name))
        length = obj.shape[0] if isinstance(obj, np.ndarray) and obj.ndim == 1 and 1 <= len(obj) <= n_values else n_values
        masked = pk.check_ciphertexts(self.public, obj, length, peer=peer, what=tag(name))
        self.party.send(peer, tag(f"{name}_masked"), pk.object_array(self.kernels.decrypt(self.private, masked)))


def new_seed() -> int:
    return secrets.randbits(63)
