"""A host's side of hetero LR (docs/protocols/hetero_lr.md): it completes the guest's encrypted residual with
its partial score, gets its gradient back through the guest's masked decryption and, as the first host,
decrypts the guest's masked sums.
"""

from __future__ import annotations

import numpy as np

from airflow_provider_powerfl.algorithms import fixed_point as fp, masking, paillier_kernels as pk
from airflow_provider_powerfl.algorithms.hetero_lr.defences import supported_columns
from airflow_provider_powerfl.algorithms.hetero_lr.protocol import (
    PROTOCOL_VERSION,
    RESIDUALS,
    BatchPlan,
    Result,
    Side,
    TailAverage,
    check_plan,
    decode_sums,
    peer_key,
    recv_dict,
    tag,
)
from airflow_provider_powerfl.algorithms.optimizers import LocalUpdate
from airflow_provider_powerfl.crypto.paillier import PaillierPublicKey
from airflow_provider_powerfl.exceptions import ConfigError, DataError, FederationError
from airflow_provider_powerfl.federation.party import Party


class HostSession(Side):
    """A host: its features only; the first host also decrypts the guest's masked sums."""

    def __init__(
        self, party: Party, X: np.ndarray, update: LocalUpdate, min_batch_size: int, key_length: int, kernels: pk.Kernels
    ) -> None:
        super().__init__(party, X, update, key_length, kernels)
        self.min_batch_size = min_batch_size
        guests = party.peers("guest")
        if len(guests) != 1:
            raise ConfigError(f"job {party.job_id!r} needs exactly one guest for hetero logistic regression, has {guests}")
        self.guest = guests[0]
        self.others = party.peers("host")

    def setup(self) -> None:
        party = self.party
        offer = recv_dict(party, self.guest, "setup")
        if offer.get("version") != PROTOCOL_VERSION:
            raise FederationError(
                f"guest {self.guest} speaks hetero_lr protocol {offer.get('version')}, this host {PROTOCOL_VERSION}"
            )
        self.plan = BatchPlan(**offer["plan"])
        if self.plan.residual not in RESIDUALS:
            raise FederationError(f"guest {self.guest} asks for residual {self.plan.residual!r}, this host knows {RESIDUALS}")
        self.decryptor = str(offer["decryptor"])
        self.is_decryptor = self.decryptor == party.party_id
        self.guest_sums = int(offer["n_sums"])
        refusal = check_plan(self.plan, self.min_batch_size, party.party_id)
        if self.plan.n_rows != len(self.X):
            refusal = refusal or f"host {party.party_id} has {len(self.X)} rows, the guest {self.plan.n_rows}: align ids first"
        hello = {
            "n_rows": len(self.X),
            "n_features": self.X.shape[1],
            "public_key": format(self.public.n, "x"),
            "refused": refusal,
        }
        for peer in [self.guest, *self.others]:
            party.send(peer, tag("hello"), hello)
        if refusal:
            raise DataError(refusal)
        self.guest_key = peer_key(offer.get("public_key"), self.guest, self.key_length)
        host_keys = {}
        for other in self.others:
            other_hello = recv_dict(party, other, "hello")
            if other_hello.get("refused"):
                raise FederationError(f"host {other} refused the training plan: {other_hello['refused']}")
            host_keys[other] = peer_key(other_hello.get("public_key"), other, self.key_length)
        # to the guest under the decryptor's key: the decryptor encrypts as owner (CRT)
        self.to_guest_key = self.private if self.is_decryptor else host_keys[self.decryptor]
        self.sum_bits = fp.batch_sum_bits(
            self.plan.largest_batch, fp.MAX_EXPONENT_BITS, fp.residual_bits(len(self.others) + 1, self.plan.factored)
        )
        masking.check_hidden(self.sum_bits, self.guest_key.n_bits, f"host {party.party_id}'s gradient sums")
        self.row_factors = self._recv_factors() if self.plan.weighted else None

    def _recv_factors(self) -> np.ndarray:
        """[[f_i]]_G for all rows: class weights at setup, weights times slopes at a refresh."""
        obj = self.party.recv(self.guest, tag("row_factors"))
        return pk.check_ciphertexts(self.guest_key, obj, self.plan.n_rows, peer=self.guest, what=tag("row_factors"))

    @property
    def masked_for(self) -> tuple[PaillierPublicKey, int]:
        """The key of this party's masked sums and how many per batch: its gradient."""
        return self.guest_key, self.X.shape[1]

    @property
    def encrypts_own(self) -> bool:
        return self.is_decryptor  # the other hosts encrypt under the decryptor's key

    def _epochs(self) -> Result:
        w = np.zeros(self.X.shape[1])
        history: list[float] = []
        tail = TailAverage(self.plan)
        self.report(0, 0, None)
        for epoch in range(self.plan.max_iter):
            if self.plan.refreshes_slopes(epoch):
                self.row_factors = self._recv_factors()
            for batch, rows in enumerate(self.plan.batches(epoch), 1):
                grad = self._batch(rows, w)
                w = self.update.step(w, grad)
                tail.add(epoch, w)
                if batch < self.plan.n_batches:
                    self.report(epoch, batch, history[-1] if history else None)
            status = recv_dict(self.party, self.guest, "epoch")
            history.append(float(status["loss"]))  # the guest tells every host the epoch's loss (and whether to stop)
            self.report(epoch + 1, 0, history[-1])
            if status.get("stop"):
                break
        return Result(tail.weights(w), history, len(history))

    def _batch(self, rows: np.ndarray, w: np.ndarray) -> np.ndarray:
        party, gkey = self.party, self.guest_key
        u = self.X[rows] @ w
        quarter = fp.encode_quarter_u(u, party.party_id)
        party.send(self.guest, tag("u_host"), self.kernels.encrypt(self.to_guest_key, quarter, self.pool))
        if self.row_factors is not None:  # [[f_i * 0.25 u_i]]_G from the guest's encrypted row factors
            own = self.kernels.power(
                gkey, self.row_factors[rows], fp.encode(0.25 * u, fp.FACTORED_U_FRAC_BITS)
            )  # u checked above
            share = pk.object_array(gkey.rerandomize_short(list(own))) if self.others else None  # to hosts, not the key owner
        else:
            own = None
            share = self.kernels.encrypt(gkey, quarter) if self.others else None
        for other in self.others:
            party.send(other, tag("u_host_shared"), share)

        d = pk.check_ciphertexts(gkey, party.recv(self.guest, tag("d_guest")), len(rows), peer=self.guest, what=tag("d_guest"))
        d = pk.add_plain(gkey, d, quarter) if own is None else pk.add(gkey, d, own)
        for other in self.others:
            part = pk.check_ciphertexts(
                gkey, party.recv(other, tag("u_host_shared")), len(rows), peer=other, what=tag("u_host_shared")
            )
            d = pk.add(gkey, d, part)
        exponents = self.exponents[rows]
        if self.plan.min_support > 1:  # columns whose sum would isolate a few rows add 0 (the sum is 0)
            exponents = exponents * supported_columns(self.X[rows], self.plan.min_support)
        grad_cts = self.kernels.xt_dot(gkey, d, exponents)
        grad_sum = decode_sums(self.masked_sums(gkey, grad_cts, self.guest, "host_gradient"), fp.D_FRAC_BITS + self.frac_bits)

        half_dot = 0.5 * float(w @ grad_sum)  # 0.5 * D_H = 0.5 * u_H^T d
        party.send(
            self.guest, tag("host_loss"), self.kernels.encrypt(self.to_guest_key, fp.encode([half_dot], fp.LOSS_FRAC_BITS))
        )
        if self.is_decryptor:
            self.decrypt_for(self.guest, "guest_gradient", self.guest_sums)
        return grad_sum / len(rows)
