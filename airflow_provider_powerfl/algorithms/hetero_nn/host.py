"""A host's side of hetero NN: its bottom model, its half U of each interactive weight, and nothing of the labels
but the (defended) gradient of its bottom output. docs/protocols/hetero_nn.md.
"""

from __future__ import annotations

import copy

import numpy as np

from airflow_provider_powerfl.algorithms.hetero_lr.defences import secure_normal
from airflow_provider_powerfl.algorithms.hetero_lr.protocol import new_keypair, peer_key
from airflow_provider_powerfl.algorithms.hetero_nn import interactive as ia
from airflow_provider_powerfl.algorithms.hetero_nn.layers import Layer
from airflow_provider_powerfl.algorithms.hetero_nn.optim import Optimizer
from airflow_provider_powerfl.algorithms.hetero_nn.packing import Layout, encode_values, orthogonal_factor
from airflow_provider_powerfl.algorithms.hetero_nn.protocol import (
    MODES,
    PROTOCOL_VERSION,
    Plan,
    chunks,
    recv_dict,
    recv_rows,
    tag,
)
from airflow_provider_powerfl.algorithms.paillier_kernels import check_ciphertexts
from airflow_provider_powerfl.algorithms.progress import ProgressCallback, TrainingProgress, report
from airflow_provider_powerfl.exceptions import DataError, FederationError
from airflow_provider_powerfl.federation.party import Party


def secret_factor(units: int) -> np.ndarray:
    """A party's secret half of an interactive weight: a random orthogonal matrix from the OS CSPRNG, as int64."""
    return orthogonal_factor(secure_normal(units * units).reshape(units, units))


class HostSession:
    """Trains this host's bottom model with the guest; ``factor`` (U) is kept for prediction."""

    def __init__(self, party: Party, bottom: Layer, optimizer: Optimizer | None, key_length: int,
                 runner: ia.Runner, min_batch_size: int = 1, factor: np.ndarray | None = None) -> None:  # fmt: skip
        self.party, self.bottom, self.optimizer = party, bottom, optimizer
        self.key_length, self.runner, self.min_batch_size = key_length, runner, min_batch_size
        self.factor = factor
        guests = party.peers("guest")
        if len(guests) != 1:
            raise FederationError(f"job {party.job_id!r} needs exactly one guest for hetero NN, has {guests}")
        self.guest = guests[0]
        self.progress: ProgressCallback | None = None

    # -- setup ---------------------------------------------------------------------------------------
    def setup(self, n_rows: int, n_valid: int, units: int, training: bool) -> Plan:
        """The guest's plan, checked; in encrypted mode the key exchange and both directions' packed bases."""
        offer = recv_dict(self.party, self.guest, "setup")
        if offer.get("version") != PROTOCOL_VERSION:
            raise FederationError(
                f"guest {self.guest} speaks hetero_nn protocol {offer.get('version')}, this host {PROTOCOL_VERSION}"
            )
        plan = Plan(**offer["plan"])
        refusal = None
        if plan.mode not in MODES or plan.units != units:
            refusal = (
                f"host {self.party.party_id} trains a {units}-unit bottom model; the guest asks {plan.mode} with {plan.units}"
            )
        elif (plan.n_rows, plan.n_valid) != (n_rows, n_valid):
            refusal = f"host {self.party.party_id} has {n_rows} rows (+{n_valid} validation), the guest {plan.n_rows} (+{plan.n_valid}): align ids first"
        elif training and plan.smallest_batch < self.min_batch_size:
            refusal = f"host {self.party.party_id} refuses batches of {plan.smallest_batch} rows: below its min_batch_size={self.min_batch_size}"
        public, private = new_keypair(self.key_length) if plan.mode == "encrypted" else (None, None)
        self.party.send(
            self.guest, tag("hello"), {"refused": refusal, "public_key": None if public is None else format(public.n, "x")}
        )
        if refusal:
            raise DataError(refusal)
        if plan.mode == "encrypted":
            self._exchange(plan, private, offer.get("public_key"), training)
        return plan

    def _exchange(self, plan: Plan, private, guest_hex: object, training: bool) -> None:
        self.private = private
        self.guest_key = peer_key(guest_hex, self.guest, self.key_length)
        if self.factor is None:
            self.factor = secret_factor(plan.units)
        self.forward_layout = Layout(plan.units, self.guest_key.n_bits)
        self.backward_layout = Layout(plan.units, private.public_key.n_bits)
        if training:  # backward: [[U^T shifted]] under this host's key, which the guest turns into its bases
            self.party.send(
                self.guest,
                tag("factor"),
                ia.shifted_encryptions(self.runner.kernels, private, self.factor.T, self.backward_layout),
            )
        count = plan.units**3 * self.forward_layout.rows
        received = self.party.recv(self.guest, tag("factor"))
        encrypted = check_ciphertexts(self.guest_key, received, count, peer=self.guest, what=tag("factor"))
        self.bases = ia.combine_bases(self.guest_key, encrypted, self.factor, self.forward_layout)

    # -- per batch ----------------------------------------------------------------------------------
    def send_forward(self, a: np.ndarray, mode: str, name: str) -> None:
        if mode == "plaintext":
            self.party.send(self.guest, tag(name), np.ascontiguousarray(a, dtype=np.float64))
            return
        values = encode_values(a, self.party.party_id)
        self.party.send(
            self.guest, tag(name), ia.rows_product(self.runner, self.guest_key, self.bases, values, self.forward_layout)
        )

    def recv_backward(self, n_rows: int, plan: Plan) -> np.ndarray:
        if plan.mode == "plaintext":
            return recv_rows(self.party, self.guest, "gradient", (n_rows, plan.units))
        received = self.party.recv(self.guest, tag("gradient"))
        return ia.decrypt_rows(
            self.runner.kernels, self.private, received, n_rows, self.backward_layout, self.guest, tag("gradient")
        )

    # -- training and prediction ---------------------------------------------------------------------
    def fit(self, X: np.ndarray, X_valid: np.ndarray | None, units: int) -> list[float]:
        plan = self.setup(len(X), 0 if X_valid is None else len(X_valid), units, training=True)
        history: list[float] = []
        best = copy.deepcopy(self.bottom.params() + self.bottom.buffers())
        report(self.progress, TrainingProgress("epoch", 0, plan.max_iter, 0, plan.n_batches))
        for epoch in range(plan.max_iter):
            for batch, rows in enumerate(plan.batches(epoch), 1):
                self.send_forward(self.bottom.forward(X[rows], training=True), plan.mode, "forward")
                self.bottom.backward(self.recv_backward(len(rows), plan) / len(rows))
                self.optimizer.step(self.bottom.params(), self.bottom.grads())
                report(
                    self.progress,
                    TrainingProgress("epoch", epoch, plan.max_iter, batch, plan.n_batches, history[-1] if history else None),
                )
            for rows in chunks(plan.n_valid, plan.batch_size):
                self.send_forward(self.bottom.forward(X_valid[rows]), plan.mode, "valid")
            status = recv_dict(self.party, self.guest, "epoch")
            history.append(float(status["loss"]))
            if status.get("best"):
                best = copy.deepcopy(self.bottom.params() + self.bottom.buffers())
            report(self.progress, TrainingProgress("epoch", epoch + 1, plan.max_iter, 0, plan.n_batches, history[-1]))
            if status.get("stop"):
                break
        for p, b in zip(self.bottom.params() + self.bottom.buffers(), best, strict=True):
            p[...] = b
        return history

    def predict(self, X: np.ndarray, units: int) -> None:
        plan = self.setup(len(X), 0, units, training=False)
        for rows in chunks(len(X), plan.batch_size):
            self.send_forward(self.bottom.forward(X[rows]), plan.mode, "predict")
