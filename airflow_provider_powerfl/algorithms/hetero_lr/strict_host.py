"""The host's side of hetero LR's strict mode (strict.py, docs/protocols/hetero_lr.md "Strict mode").

The host holds its share a of its weights; per batch it turns [[b]]_G (the guest's share, under the guest's
key) into masked shares of X_H b for the guest, sends its share h of the partial scores under its own key,
completes the guest's encrypted residual share with h and sends its gradient X_H^T d back masked, so the
guest holds one share and the host the other. It never decrypts anything under the guest's key; at the end
the guest reveals b and the host keeps a + b, its own weights.
"""

from __future__ import annotations

import numpy as np

from airflow_provider_powerfl.algorithms import fixed_point as fp, masking, paillier_kernels as pk
from airflow_provider_powerfl.algorithms.hetero_lr.host import HostSession
from airflow_provider_powerfl.algorithms.hetero_lr.protocol import BatchPlan, Result, check_plan, peer_key, recv_dict, tag
from airflow_provider_powerfl.algorithms.hetero_lr.strict import (
    STRICT_VERSION,
    Bounds,
    StrictFit,
    add_residues,
    mask_for_guest,
    matvec,
    refuse_hosts,
    strict_tag,
    update_share,
    weights_of,
)
from airflow_provider_powerfl.algorithms.optimizers import LocalUpdate
from airflow_provider_powerfl.crypto.paillier import PaillierPublicKey
from airflow_provider_powerfl.exceptions import ConfigError, DataError, FederationError
from airflow_provider_powerfl.federation.party import Party


class StrictHostSession(StrictFit, HostSession):
    """A host whose weights and gradient are secret-shared with the guest during training."""

    def __init__(
        self, party: Party, X: np.ndarray, update: LocalUpdate, min_batch_size: int, key_length: int, kernels: pk.Kernels
    ) -> None:
        super().__init__(party, X, update, min_batch_size, key_length, kernels)
        refuse_hosts(len(self.others) + 1, f"job {party.job_id!r}")
        if update.optimizer != "sgd" or update.penalty not in ("l2", None):
            raise ConfigError(
                "privacy='strict' updates weight shares linearly: it needs optimizer='sgd' and penalty 'l2' or None"
            )
        # one scale for every column, so the guest's share update needs nothing of the host's data
        self.frac_bits = np.full(X.shape[1], fp.X_FRAC_BITS, dtype=np.int64)
        self.exponents = fp.encode_columns(X, self.frac_bits)
        self.alpha = float(update.alpha) if update.penalty == "l2" else 0.0

    def setup(self) -> None:
        party, p = self.party, self.X.shape[1]
        offer = recv_dict(party, self.guest, "setup")
        refusal = None
        if offer.get("version") != STRICT_VERSION:
            refusal = (f"host {party.party_id} runs privacy='strict' (protocol {STRICT_VERSION}), the guest offers "
                       f"protocol {offer.get('version')}: set privacy the same at both parties")  # fmt: skip
        else:
            self.plan = BatchPlan(**offer["plan"])
            refusal = check_plan(self.plan, self.min_batch_size, party.party_id)
            if self.plan.n_rows != len(self.X):
                refusal = (
                    refusal or f"host {party.party_id} has {len(self.X)} rows, the guest {self.plan.n_rows}: align ids first"
                )
        hello = {"n_rows": len(self.X), "n_features": p, "public_key": format(self.public.n, "x"), "refused": refusal,
                 "learning_rate": float(self.update.learning_rate), "alpha": self.alpha}  # fmt: skip
        party.send(self.guest, tag("hello"), hello)
        if refusal:
            raise (ConfigError if offer.get("version") != STRICT_VERSION else DataError)(refusal)
        self.guest_key = peer_key(offer.get("public_key"), self.guest, self.key_length)
        self.bounds = Bounds(self.plan.largest_batch, self.plan.max_iter * self.plan.n_batches, p,
                             int(offer["n_sums"]), float(self.update.learning_rate))  # fmt: skip
        for n_bits in (self.guest_key.n_bits, self.public.n_bits):
            self.bounds.check(n_bits)
        self.guest_sums = masking.packed_count(
            int(offer["n_sums"]), max(self.bounds.gradient, self.bounds.loss), self.public.n_bits
        )

    @property
    def zero_plan(self) -> tuple[PaillierPublicKey, int]:
        """r^n of the guest's key per batch: the packed shares of X_H b and of the gradient."""
        n_bits = self.guest_key.n_bits
        count = masking.packed_count(self.plan.largest_batch, self.bounds.xb, n_bits)
        return self.guest_key, count + masking.packed_count(self.X.shape[1], self.bounds.gradient, n_bits)

    def _epochs(self) -> Result:
        self.share = [0] * self.X.shape[1]  # a; the guest holds b, W = a + b starts at 0
        history: list[float] = []
        self.report(0, 0, None)
        for epoch in range(self.plan.max_iter):
            for batch, rows in enumerate(self.plan.batches(epoch), 1):
                self._batch(rows)
                if batch < self.plan.n_batches:
                    self.report(epoch, batch, history[-1] if history else None)
            status = recv_dict(self.party, self.guest, "epoch")
            history.append(float(status["loss"]))
            self.report(epoch + 1, 0, history[-1])
            if status.get("stop"):
                break
        revealed = self.party.recv(self.guest, strict_tag("reveal"))
        if not isinstance(revealed, np.ndarray) or revealed.shape != (self.X.shape[1],) or revealed.dtype != object:
            raise FederationError(f"guest {self.guest} sent a malformed {strict_tag('reveal')}")
        total = [a + int(b) for a, b in zip(self.share, revealed, strict=True)]
        return Result(weights_of(total, self.frac_bits), history, len(history))

    def _batch(self, rows: np.ndarray) -> None:
        party, gkey, bounds, p = self.party, self.guest_key, self.bounds, self.X.shape[1]
        E = self.exponents[rows]
        guest_share = pk.check_ciphertexts(
            gkey, party.recv(self.guest, strict_tag("b")), p, peer=self.guest, what=strict_tag("b")
        )
        # X_H [[b]]: one multi-exponentiation per row over the p encrypted share entries, masked for the guest
        packed, t_host = mask_for_guest(gkey, self.kernels.xt_dot(gkey, guest_share, E.T), bounds.xb, self.zeros)
        party.send(self.guest, strict_tag("xb"), packed)
        h = [own + t for own, t in zip(matvec(E, self.share), t_host, strict=True)]  # this host's share of u 2^S
        party.send(self.guest, strict_tag("h"), self.kernels.encrypt(self.private, h, self.pool))
        square = sum(v * v for v in h) % self.public.n  # sum h^2 for the loss, as a residue (it may exceed max_int)
        party.send(self.guest, strict_tag("h_square"), pk.object_array(self.private.raw_encrypt_many([square])))

        what = strict_tag("d")
        d = pk.check_ciphertexts(gkey, party.recv(self.guest, what), len(rows), peer=self.guest, what=what)
        d = add_residues(gkey, d, h)  # [[d]]_G with d = 0.25 u + 0.5 - y (+ the guest's noise) at 2^-(S + 2)
        packed, gradient_share = mask_for_guest(gkey, self.kernels.xt_dot(gkey, d, E), bounds.gradient, self.zeros)
        party.send(self.guest, strict_tag("host_gradient"), packed)
        self.decrypt_for(self.guest, "strict.guest_sums", self.guest_sums)
        self.share = update_share(self.share, gradient_share, self.frac_bits, len(rows), self.update.learning_rate, self.alpha)
