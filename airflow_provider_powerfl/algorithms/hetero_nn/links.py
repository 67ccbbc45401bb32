"""The guest's view of each host's contribution to the interactive layer, one link per host.

``forward(rows, split)`` gives the host's part of the interactive layer's pre-activation for those rows,
``backward(delta, sent)`` passes the gradient back (``sent``: the defended per-row gradient, what the host may
learn), ``params``/``grads`` are what the guest's optimizer updates for this link. RemoteLink talks to a host
(encrypted or plaintext mode); LocalLink holds a host's bottom model in the guest's process: the same network
trained centrally, the baseline of ``powerfl bench hetero-nn``.
"""

from __future__ import annotations

import numpy as np

from airflow_provider_powerfl.algorithms.hetero_lr.protocol import peer_key
from airflow_provider_powerfl.algorithms.hetero_nn import interactive as ia
from airflow_provider_powerfl.algorithms.hetero_nn.layers import Layer
from airflow_provider_powerfl.algorithms.hetero_nn.packing import Layout, encode_values, factor_floats
from airflow_provider_powerfl.algorithms.hetero_nn.protocol import Plan, recv_rows, tag
from airflow_provider_powerfl.algorithms.paillier_kernels import check_ciphertexts
from airflow_provider_powerfl.crypto.paillier_private import PaillierPrivateKey
from airflow_provider_powerfl.federation.party import Party

NAMES = {"train": "forward", "valid": "valid", "predict": "predict"}


class RemoteLink:
    """A host's part through the party: decrypted packed t = a W (encrypted mode) or a W_k with W_k here (plaintext)."""

    def __init__(self, party: Party, host: str, plan: Plan, runner: ia.Runner, private: PaillierPrivateKey | None,
                 factor: np.ndarray | None, weights: np.ndarray | None) -> None:  # fmt: skip
        self.party, self.host, self.plan, self.runner, self.private = party, host, plan, runner, private
        self.factor = factor  # encrypted mode: V, this guest's secret half of W = V U
        self.weights = weights  # plaintext mode: the host's interactive weights, trained here
        self.dW = None if weights is None else np.zeros_like(weights)

    def exchange(self, host_hex: object, key_length: int, training: bool) -> None:
        """Encrypted mode: send [[V shifted]] under the guest's key; in training, make the backward bases from [[U^T]]."""
        units = self.plan.units
        self.forward_layout = Layout(units, self.private.public_key.n_bits)
        self.party.send(
            self.host, tag("factor"), ia.shifted_encryptions(self.runner.kernels, self.private, self.factor, self.forward_layout)
        )
        if not training:
            return
        self.host_key = peer_key(host_hex, self.host, key_length)
        self.backward_layout = Layout(units, self.host_key.n_bits)
        received = self.party.recv(self.host, tag("factor"))
        count = units**3 * self.backward_layout.rows
        encrypted = check_ciphertexts(self.host_key, received, count, peer=self.host, what=tag("factor"))
        self.bases = ia.combine_bases(self.host_key, encrypted, self.factor.T, self.backward_layout)

    def forward(self, rows: np.ndarray, split: str) -> np.ndarray:
        name = NAMES[split]
        if self.weights is None:
            received = self.party.recv(self.host, tag(name))
            return ia.decrypt_rows(
                self.runner.kernels, self.private, received, len(rows), self.forward_layout, self.host, tag(name)
            )
        self._a = recv_rows(self.party, self.host, name, (len(rows), self.plan.units))
        return self._a @ self.weights

    def backward(self, delta: np.ndarray, sent: np.ndarray) -> None:
        if self.weights is None:
            values = encode_values(sent, self.party.party_id)
            self.party.send(
                self.host, tag("gradient"), ia.rows_product(self.runner, self.host_key, self.bases, values, self.backward_layout)
            )
            return
        self.party.send(self.host, tag("gradient"), sent @ self.weights.T)
        self.dW[...] = self._a.T @ delta

    def params(self) -> list[np.ndarray]:
        return [] if self.weights is None else [self.weights]

    def grads(self) -> list[np.ndarray]:
        return [] if self.dW is None else [self.dW]

    def buffers(self) -> list[np.ndarray]:
        return []

    def end_epoch(self, status: dict[str, object]) -> None:
        self.party.send(self.host, tag("epoch"), status)


class LocalLink:
    """A host's bottom model and interactive weight W = V U in the guest's process (the centralized baseline)."""

    def __init__(self, bottom: Layer, factors: tuple[np.ndarray, np.ndarray], data: dict[str, np.ndarray]) -> None:
        self.bottom, self.data = bottom, data
        self.weights = factor_floats(factors[0]) @ factor_floats(factors[1])

    def forward(self, rows: np.ndarray, split: str) -> np.ndarray:
        return self.bottom.forward(self.data[split][rows], training=split == "train") @ self.weights

    def backward(self, delta: np.ndarray, sent: np.ndarray) -> None:
        self.bottom.backward(delta @ self.weights.T)

    def params(self) -> list[np.ndarray]:
        return self.bottom.params()

    def grads(self) -> list[np.ndarray]:
        return self.bottom.grads()

    def buffers(self) -> list[np.ndarray]:
        return self.bottom.buffers()

    def end_epoch(self, status: dict[str, object]) -> None:
        """Nothing to tell: the guest keeps and restores the best epoch's parameters, these included."""
