"""The guest's side of hetero LR (docs/protocols/hetero_lr.md): it offers the plan, sends its residual part
encrypted under its own key, decrypts the hosts' masked gradients and gets its own gradient and the
batch loss through the first host's masked decryption.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np

from airflow_provider_powerfl.algorithms import fixed_point as fp, masking, paillier_kernels as pk
from airflow_provider_powerfl.algorithms.hetero_lr.defences import NOISE_BOUND, secure_normal
from airflow_provider_powerfl.algorithms.hetero_lr.protocol import (
    PROTOCOL_VERSION,
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

log = logging.getLogger(__name__)

_LOG2 = math.log(2.0)


class GuestSession(Side):
    """The guest: labels, its features (with a ones column for the intercept) and the loss."""

    def __init__(
        self,
        party: Party,
        X: np.ndarray,
        y: np.ndarray,
        row_weights: np.ndarray | None,
        plan: BatchPlan,
        update: LocalUpdate,
        min_batch_size: int,
        key_length: int,
        kernels: pk.Kernels,
        init_scale: float = 0.0,
        noise: float = 0.0,
    ) -> None:
        super().__init__(party, np.hstack([X, np.ones((len(X), 1))]), update, key_length, kernels)
        self.y = y.astype(np.float64)
        self.plan = plan
        self.min_batch_size = min_batch_size
        self.init_scale = init_scale  # sigma of the secret random initial weights (0: zeros)
        self.noise = noise  # sigma of the noise on each row's residual towards the hosts (0: none)
        self.hosts = party.peers("host")
        if not self.hosts:
            raise ConfigError(f"job {party.job_id!r} has no host party for hetero logistic regression")
        self.decryptor = self.hosts[0]
        self.weighted = row_weights is not None
        # per-row factors f_i of the hosts' 0.25 u_H at 2^-WEIGHT_FRAC_BITS (None: all 1); first the class weights
        self.factor_ints = fp.encode(row_weights, fp.WEIGHT_FRAC_BITS) if self.weighted else None
        self.row_weights = (
            np.ldexp(np.asarray(self.factor_ints, dtype=np.float64), -fp.WEIGHT_FRAC_BITS) if self.weighted else np.ones(len(X))
        )

    def setup(self) -> None:
        refusal = check_plan(self.plan, self.min_batch_size, self.party.party_id)
        if refusal:
            raise DataError(refusal)
        offer = {
            "version": PROTOCOL_VERSION,
            "plan": self.plan.to_dict(),
            "public_key": format(self.public.n, "x"),
            "decryptor": self.decryptor,
            "n_sums": self.X.shape[1] + 1,  # gradient with intercept, then the loss
        }
        for host in self.hosts:
            self.party.send(host, tag("setup"), offer)
        keys: dict[str, PaillierPublicKey] = {}
        self.host_features: dict[str, int] = {}
        for host in self.hosts:
            hello = recv_dict(self.party, host, "hello")
            if hello.get("refused"):
                raise FederationError(f"host {host} refused the training plan: {hello['refused']}")
            if hello.get("n_rows") != self.plan.n_rows:
                raise DataError(f"host {host} has {hello.get('n_rows')} rows, the guest {self.plan.n_rows}: align ids first")
            keys[host] = peer_key(hello.get("public_key"), host, self.key_length)
            self.host_features[host] = int(hello.get("n_features", -1))
        self.decryptor_key = keys[self.decryptor]
        self.sum_bits = fp.batch_sum_bits(
            self.plan.largest_batch,
            fp.MAX_EXPONENT_BITS + fp.U_BOUND_BITS + 3,
            fp.residual_bits(len(self.hosts), self.plan.factored),
        )
        masking.check_hidden(self.sum_bits, self.decryptor_key.n_bits, "the guest's gradient and loss sums")
        if self.weighted:
            self._send_factors()

    @property
    def masked_for(self) -> tuple[PaillierPublicKey, int]:
        """The key of this party's masked sums and how many per batch: the gradient with intercept, then the loss."""
        return self.decryptor_key, self.X.shape[1] + 1

    def _send_factors(self) -> None:
        factors = self.kernels.encrypt(self.private, self.factor_ints, self.pool)
        for host in self.hosts:
            self.party.send(host, tag("row_factors"), factors)

    def _refresh_slopes(self, w: np.ndarray) -> None:
        """Factors c_i * 4 s_i with the slopes s_i = sigmoid'(u_G,i) at the current weights, to every host."""
        p = _sigmoid(self.X @ w)
        self.factor_ints = fp.encode(self.row_weights * 4.0 * p * (1.0 - p), fp.WEIGHT_FRAC_BITS)
        self._send_factors()

    def _epochs(self) -> Result:
        # secret non-zero start: at w = 0 the first residual is 0.5 - y and a host reads X_H^T (0.5 - y)
        # (for standardized features the initial score u_G then has standard deviation about init_scale)
        w = self.init_scale / math.sqrt(self.X.shape[1]) * secure_normal(self.X.shape[1])
        history: list[float] = []
        tail = TailAverage(self.plan)
        self.report(0, 0, None)
        for epoch in range(self.plan.max_iter):
            start = time.perf_counter()
            if self.plan.refreshes_slopes(epoch):
                self._refresh_slopes(w)
            total = 0.0
            for batch, rows in enumerate(self.plan.batches(epoch), 1):
                grad, loss = self._batch(rows, w)
                w = self.update.step(w, grad)
                tail.add(epoch, w)
                total += loss
                if batch < self.plan.n_batches:
                    self.report(epoch, batch, history[-1] if history else None)
            history.append(total / self.plan.n_rows)
            self.report(epoch + 1, 0, history[-1])
            stop = epoch + 1 == self.plan.max_iter or (epoch > 0 and abs(history[-2] - history[-1]) < self.plan.tol)
            log.info("hetero_lr guest epoch %d: loss %.6f (%.1f s)", epoch + 1, history[-1], time.perf_counter() - start)
            for host in self.hosts:
                self.party.send(host, tag("epoch"), {"loss": history[-1], "stop": stop})
            if stop:
                break
        return Result(tail.weights(w), history, len(history))

    def _batch(self, rows: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, float]:
        party, key = self.party, self.decryptor_key
        u, y = self.X[rows] @ w, self.y[rows]
        weights = self.row_weights[rows]
        fp.check_partial_score(u, party.party_id)
        factors = None if self.factor_ints is None else [self.factor_ints[i] for i in rows]
        d_frac = fp.guest_residual_frac_bits(factors is not None)
        # sigmoid at the expansion point: 0 (Taylor: residual 0.25 u + 0.5 - y) or u_G (sigmoid(u_G) + s u_H - y)
        taylor = self.plan.residual == "taylor"
        centre = np.full(len(rows), 0.5) if taylor else _sigmoid(u)
        # eta: noise the hosts' gradients carry and the guest removes from its own (and from the loss)
        eta = np.clip(self.noise * secure_normal(len(rows)), -NOISE_BOUND, NOISE_BOUND) if self.noise else np.zeros(len(rows))
        own_ints = fp.encode(weights * (centre + (0.25 * u if taylor else 0.0) - y) + eta, fp.D_FRAC_BITS)
        d_guest = self.kernels.encrypt(self.private, own_ints, self.pool)
        for host in self.hosts:
            party.send(host, tag("d_guest"), d_guest)

        quarter_uh = None
        for host in self.hosts:
            part = pk.check_ciphertexts(key, party.recv(host, tag("u_host")), len(rows), peer=host, what=tag("u_host"))
            quarter_uh = part if quarter_uh is None else pk.add(key, quarter_uh, part)
        # X^T d for d = f 0.25 u_H + own: the factors ride in the exponents, the guest's own part is a plaintext sum
        exponents = self.exponents[rows]
        hosts_part = (
            self.kernels.xt_dot(key, quarter_uh, exponents)
            if factors is None
            else self.kernels.scaled_xt_dot(key, quarter_uh, exponents, factors)
        )
        own_sums = [v << (d_frac - fp.D_FRAC_BITS) for v in fp.column_sums(exponents, own_ints)]
        grad_cts = pk.add_plain(key, hosts_part, own_sums)
        # 0.5 A_H = sum_i 2 c_i (centre_i - y_i) 0.25 u_H,i (Taylor: exponents -c_i y'_i)
        # and -0.5 u_H^T eta = sum_i 0.25 u_H,i (-2 eta_i), which the hosts' D_k carry
        loss_exponents = np.asarray(fp.encode(2.0 * weights * (centre - y) - 2.0 * eta, fp.WEIGHT_FRAC_BITS), dtype=np.int64)
        loss_ct = self.kernels.xt_dot(key, quarter_uh, loss_exponents[:, np.newaxis])

        for host in self.hosts:
            self.decrypt_for(host, "host_gradient", self.host_features[host])
        for host in self.hosts:
            part = pk.check_ciphertexts(key, party.recv(host, tag("host_loss")), 1, peer=host, what=tag("host_loss"))
            loss_ct = pk.add(key, loss_ct, part)

        values = self.masked_sums(key, np.concatenate([grad_cts, loss_ct]), self.decryptor, "guest_gradient")
        grad_sum = decode_sums(values[:-1], d_frac + self.frac_bits) - self.X[rows].T @ eta
        hosts_loss = values[-1] / (1 << fp.LOSS_FRAC_BITS)  # 0.5 * (A_H + D_H)
        if taylor:
            a_guest = float(np.sum(weights * (0.5 - y) * u))
            d_guest_dot = float(w @ grad_sum)  # D_G = u_G^T d = w^T X^T d
            guest_loss = _LOG2 * float(np.sum(weights)) + 0.5 * a_guest + 0.5 * d_guest_dot
        else:  # the log loss at u_G, expanded to second order in u_H with the hosts' slopes
            guest_loss = float(np.sum(weights * (np.logaddexp(0.0, u) - y * u)))
        return grad_sum / len(rows), guest_loss + hosts_loss


def _sigmoid(u: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * u))
