"""The guest's side of hetero LR's strict mode (strict.py, docs/protocols/hetero_lr.md "Strict mode").

The guest keeps its own weights in the clear and holds the share b of the host's weights. Per batch it sends
[[b]] under its own key, decrypts its masked share of X_H b, sends its share of the residual encrypted under
its own key, gets its own gradient and the batch loss through the host's masked decryption (as in the
default mode) and decrypts its masked share of the host's gradient, which it keeps: nothing it decrypts
goes back to the host. At the end it reveals b to the host.
"""

from __future__ import annotations

import math

import numpy as np

from airflow_provider_powerfl.algorithms import fixed_point as fp, masking, paillier_kernels as pk
from airflow_provider_powerfl.algorithms.hetero_lr.defences import NOISE_BOUND, secure_normal
from airflow_provider_powerfl.algorithms.hetero_lr.guest import GuestSession
from airflow_provider_powerfl.algorithms.hetero_lr.protocol import Result, decode_sums, peer_key, recv_dict, tag
from airflow_provider_powerfl.algorithms.hetero_lr.strict import (
    LOSS_LIMIT,
    SCORE_FRAC_BITS as S,
    STRICT_VERSION,
    Bounds,
    StrictFit,
    add_residues,
    masked_shares,
    refuse_hosts,
    strict_tag,
    update_share,
)
from airflow_provider_powerfl.crypto.paillier import PaillierPublicKey
from airflow_provider_powerfl.exceptions import ConfigError, DataError, FederationError

_LOG2 = math.log(2.0)


class StrictGuestSession(StrictFit, GuestSession):
    """The guest of strict mode: labels, its own weights, and the guest's share of the host's weights."""

    def setup(self) -> None:
        refuse_hosts(len(self.hosts), f"job {self.party.job_id!r}")
        if self.weighted or self.plan.residual != "taylor":
            raise ConfigError("privacy='strict' uses the Taylor residual without class weights")
        self.host = self.hosts[0]
        offer = {"version": STRICT_VERSION, "plan": self.plan.to_dict(), "public_key": format(self.public.n, "x"),
                 "n_sums": self.X.shape[1] + 1}  # fmt: skip
        self.party.send(self.host, tag("setup"), offer)
        hello = recv_dict(self.party, self.host, "hello")
        if hello.get("refused"):
            raise FederationError(f"host {self.host} refused the training plan: {hello['refused']}")
        if hello.get("n_rows") != self.plan.n_rows:
            raise DataError(f"host {self.host} has {hello.get('n_rows')} rows, the guest {self.plan.n_rows}: align ids first")
        self.host_key = self.decryptor_key = peer_key(hello.get("public_key"), self.host, self.key_length)
        n_features, lr, alpha = hello.get("n_features"), hello.get("learning_rate"), hello.get("alpha")
        if not (isinstance(n_features, int) and 1 <= n_features <= 1 << 20 and _rate(lr) and _rate(alpha, zero=True)):
            raise FederationError(f"host {self.host} sent a malformed hello (n_features, learning_rate, alpha)")
        self.host_features = {self.host: n_features}
        self.host_lr, self.host_alpha = float(lr), float(alpha)
        if self.host_lr * self.host_alpha > 2.0:
            raise ConfigError(f"host {self.host}'s learning_rate * alpha exceeds 2: its L2 step would not shrink the weights")
        self.bounds = Bounds(self.plan.largest_batch, self.plan.max_iter * self.plan.n_batches, n_features,
                             self.X.shape[1] + 1, self.host_lr)  # fmt: skip
        for n_bits in (self.host_key.n_bits, self.public.n_bits):
            self.bounds.check(n_bits)
        self.sum_bits = max(self.bounds.gradient, self.bounds.loss)
        self.host_frac_bits = np.full(n_features, fp.X_FRAC_BITS, dtype=np.int64)  # the strict host's one scale
        self.share = [0] * n_features  # b

    @property
    def zero_plan(self) -> tuple[PaillierPublicKey, int]:
        """r^n of the host's key per batch: the packed gradient and loss sums."""
        return self.host_key, masking.packed_count(self.X.shape[1] + 1, self.sum_bits, self.host_key.n_bits)

    def _epochs(self) -> Result:
        result = super()._epochs()
        self.party.send(self.host, strict_tag("reveal"), pk.object_array(self.share))  # the host's own weights, to it
        return result

    def _batch(self, rows: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, float]:
        party, private, hkey, bounds, m = self.party, self.private, self.host_key, self.bounds, len(rows)
        u, y = self.X[rows] @ w, self.y[rows]
        fp.check_partial_score(u, party.party_id)
        party.send(self.host, strict_tag("b"), self.kernels.encrypt(private, self.share, self.pool))
        t_guest = masked_shares(private, self.kernels, party.recv(self.host, strict_tag("xb")), m, bounds.xb,
                                peer=self.host, what=strict_tag("xb"))  # fmt: skip
        h = pk.check_ciphertexts(hkey, party.recv(self.host, strict_tag("h")), m, peer=self.host, what=strict_tag("h"))
        what = strict_tag("h_square")
        h_square = pk.check_ciphertexts(hkey, party.recv(self.host, what), 1, peer=self.host, what=what)

        known = [a + t for a, t in zip(fp.encode(u, S), t_guest, strict=True)]  # u 2^S = known + h
        centre = [(1 - 2 * int(v)) << (S + 1) for v in y]  # (0.5 - y) 2^(S + 2)
        own = [k + c for k, c in zip(known, centre, strict=True)]  # the guest's share of d 2^(S + 2)
        towards_host = own
        if self.noise:  # eta on the host's gradient only, as in the default mode
            eta = np.clip(self.noise * secure_normal(m), -NOISE_BOUND, NOISE_BOUND)
            towards_host = [v + e for v, e in zip(own, fp.encode(eta, S + 2), strict=True)]
        party.send(self.host, strict_tag("d"), self.kernels.encrypt(private, towards_host, self.pool))

        exponents = self.exponents[rows]
        grad_cts = add_residues(hkey, self.kernels.xt_dot(hkey, h, exponents), fp.column_sums(exponents, own))
        # loss: 8 2^2S (l - log 2) = sum_i U_i^2 - 4 2^S y'_i U_i with U = known + h
        signs = [2 * int(v) - 1 for v in y]
        factors = [2 * k - (s << (S + 2)) for k, s in zip(known, signs, strict=True)]
        plain = sum(k * k - (s * k << (S + 2)) for k, s in zip(known, signs, strict=True))
        loss_ct = self.kernels.scaled_xt_dot(hkey, h, np.ones((m, 1), dtype=np.int64), factors)
        loss_ct = add_residues(hkey, pk.add(hkey, loss_ct, h_square), [plain])
        values = self.masked_sums(hkey, np.concatenate([grad_cts, loss_ct]), self.host, "strict.guest_sums")
        grad_sum = decode_sums(values[:-1], S + 2 + self.frac_bits)
        loss = m * _LOG2 + values[-1] / 2.0 ** (2 * S + 3)
        if not loss < LOSS_LIMIT:
            raise DataError(
                f"party {party.party_id}: the batch loss reached {loss:.3g}; the weights diverged (lower learning_rate)"
            )

        what = strict_tag("host_gradient")
        gradient = masked_shares(private, self.kernels, party.recv(self.host, what), len(self.share), bounds.gradient,
                                 peer=self.host, what=what)  # fmt: skip
        self.share = update_share(self.share, gradient, self.host_frac_bits, m, self.host_lr, self.host_alpha)
        return grad_sum / m, loss


def _rate(value: object, *, zero: bool = False) -> bool:
    """A finite float the host may send as its learning rate (> 0) or alpha (>= 0), below 2^20."""
    return isinstance(value, float) and math.isfinite(value) and (value >= 0 if zero else value > 0) and value < 2.0**20
