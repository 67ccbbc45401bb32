"""The messages of hetero logistic regression without a third party (docs/protocols/hetero_lr.md).

Each party holds its own Paillier key. Per mini-batch the guest sends its residual part
encrypted under its own key; every host completes the residual with its partial score and
gets its gradient back through a masked decryption by the guest; the guest gets its own
gradient (and the batch loss) through a masked decryption by the first host, using the
hosts' partial scores encrypted under that host's key. Nobody sees another party's
features, labels, weights or partial scores in the clear.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np

from airflow_provider_powerfl.algorithms import fixed_point as fp, masking, paillier_kernels as pk
from airflow_provider_powerfl.algorithms.optimizers import LocalUpdate
from airflow_provider_powerfl.crypto.obfuscator_pool import ObfuscatorPool, ZeroPool
from airflow_provider_powerfl.crypto.paillier import PaillierPublicKey, insecure_test_keys
from airflow_provider_powerfl.crypto.paillier_private import PaillierPrivateKey, generate_keypair
from airflow_provider_powerfl.exceptions import ConfigError, CryptoError, DataError, FederationError
from airflow_provider_powerfl.federation.party import Party

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 4  # 4: the plan carries min_support
_LOG2 = math.log(2.0)
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
        }


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


def _recv_dict(party: Party, src: str, name: str) -> dict:
    obj = party.recv(src, tag(name))
    if not isinstance(obj, dict):
        raise FederationError(f"party {src} sent {type(obj).__name__} as {tag(name)}, expected a dict")
    return obj


def _recv_ints(party: Party, src: str, name: str, length: int) -> list[int]:
    obj = party.recv(src, tag(name))
    if not isinstance(obj, np.ndarray) or obj.shape != (length,):
        raise FederationError(f"party {src} sent a malformed {tag(name)}: expected {length} integers")
    return [int(v) for v in obj]


def _decode_sums(values: Sequence[int], frac_bits: np.ndarray) -> np.ndarray:
    return np.array([v / (1 << int(f)) for v, f in zip(values, frac_bits, strict=True)], dtype=np.float64)


NOISE_BOUND = 2.0**10  # |eta| is clipped here (>= 32 sigma for the sigmas epsilon allows), inside the residual bounds


def noise_scale(epsilon: float, delta: float, max_iter: int) -> float:
    """Sigma of the Gaussian noise on each row's residual for (epsilon, delta)-DP of labels towards hosts.

    Gaussian mechanism on the residual vector d of each batch: flipping one label moves d_i by 1
    (no class weights), so the L2 sensitivity is 1 and one batch is rho = 1 / (2 sigma^2)-zCDP; a row
    is in one batch per epoch, so max_iter epochs compose to rho_total = max_iter / (2 sigma^2), and
    rho-zCDP gives (rho + 2 sqrt(rho ln(1/delta)), delta)-DP (Bun & Steinke 2016, prop. 1.3).
    """
    log_inv = math.log(1.0 / delta)
    rho = (math.sqrt(log_inv + epsilon) - math.sqrt(log_inv)) ** 2
    return math.sqrt(max_iter / (2.0 * rho))


def secure_normal(size: int) -> np.ndarray:
    """Standard normal draws from the OS CSPRNG (Box-Muller): the noise must not be predictable from a seed."""
    half = -(-size // 2)
    bits = np.frombuffer(secrets.token_bytes(16 * half), dtype=np.uint64).reshape(2, half)
    u1 = (bits[0] >> np.uint64(11)).astype(np.float64) * 2.0**-53 + 2.0**-54  # in (0, 1)
    u2 = (bits[1] >> np.uint64(11)).astype(np.float64) * 2.0**-53
    radius = np.sqrt(-2.0 * np.log(u1))
    return np.concatenate([radius * np.cos(2 * np.pi * u2), radius * np.sin(2 * np.pi * u2)])[:size]


def supported_columns(X: np.ndarray, min_support: int) -> np.ndarray:
    """Which columns of a batch a host may learn a gradient sum of: support 0 or >= ``min_support``.

    A column's support is the number of rows off its most common value in the batch. With support
    s < min_support the sum isolates those s rows' residuals (a one-hot value in one row gives that
    row's residual, hence its label); support 0 gives only the batch's sum of residuals.
    """
    keep = np.ones(X.shape[1], dtype=bool)
    if min_support <= 1:
        return keep
    for j, column in enumerate(np.sort(X, axis=0).T):
        starts = np.flatnonzero(np.r_[True, column[1:] != column[:-1], True])
        support = len(column) - int(np.max(np.diff(starts)))
        keep[j] = support == 0 or support >= min_support
    return keep


def _check_plan(plan: BatchPlan, min_batch_size: int, who: str) -> str | None:
    if plan.smallest_batch < min_batch_size:
        return (
            f"party {who} refuses batches of {plan.smallest_batch} rows (n_rows={plan.n_rows}, "
            f"batch_size={plan.batch_size}): below its min_batch_size={min_batch_size}"
        )
    return None


class _Side:
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
        plain = _recv_ints(self.party, peer, f"{name}_masked", len(masked))
        return masking.unpack(plain, masks, self.sum_bits, public.n_bits, peer)

    def decrypt_for(self, peer: str, name: str, n_values: int) -> None:
        """Decrypt the packed masked sums ``peer`` sends (at most one plaintext per value) and send them back."""
        obj = self.party.recv(peer, tag(name))
        length = obj.shape[0] if isinstance(obj, np.ndarray) and obj.ndim == 1 and 1 <= len(obj) <= n_values else n_values
        masked = pk.check_ciphertexts(self.public, obj, length, peer=peer, what=tag(name))
        self.party.send(peer, tag(f"{name}_masked"), pk.object_array(self.kernels.decrypt(self.private, masked)))


class GuestSession(_Side):
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
            np.ldexp(np.asarray(self.factor_ints, dtype=np.float64), -fp.WEIGHT_FRAC_BITS)
            if self.weighted
            else np.ones(len(X))
        )

    def setup(self) -> None:
        refusal = _check_plan(self.plan, self.min_batch_size, self.party.party_id)
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
            hello = _recv_dict(self.party, host, "hello")
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
        for epoch in range(self.plan.max_iter):
            start = time.perf_counter()
            if self.plan.refreshes_slopes(epoch):
                self._refresh_slopes(w)
            total = 0.0
            for rows in self.plan.batches(epoch):
                grad, loss = self._batch(rows, w)
                w = self.update.step(w, grad)
                total += loss
            history.append(total / self.plan.n_rows)
            stop = epoch + 1 == self.plan.max_iter or (epoch > 0 and abs(history[-2] - history[-1]) < self.plan.tol)
            log.info("hetero_lr guest epoch %d: loss %.6f (%.1f s)", epoch + 1, history[-1], time.perf_counter() - start)
            for host in self.hosts:
                self.party.send(host, tag("epoch"), {"loss": history[-1], "stop": stop})
            if stop:
                break
        return Result(w, history, len(history))

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
        grad_sum = _decode_sums(values[:-1], d_frac + self.frac_bits) - self.X[rows].T @ eta
        hosts_loss = values[-1] / (1 << fp.LOSS_FRAC_BITS)  # 0.5 * (A_H + D_H)
        if taylor:
            a_guest = float(np.sum(weights * (0.5 - y) * u))
            d_guest_dot = float(w @ grad_sum)  # D_G = u_G^T d = w^T X^T d
            guest_loss = _LOG2 * float(np.sum(weights)) + 0.5 * a_guest + 0.5 * d_guest_dot
        else:  # the log loss at u_G, expanded to second order in u_H with the hosts' slopes
            guest_loss = float(np.sum(weights * (np.logaddexp(0.0, u) - y * u)))
        return grad_sum / len(rows), guest_loss + hosts_loss


class HostSession(_Side):
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
        offer = _recv_dict(party, self.guest, "setup")
        if offer.get("version") != PROTOCOL_VERSION:
            raise FederationError(f"guest {self.guest} speaks hetero_lr protocol {offer.get('version')}, this host {PROTOCOL_VERSION}")
        self.plan = BatchPlan(**offer["plan"])
        if self.plan.residual not in RESIDUALS:
            raise FederationError(f"guest {self.guest} asks for residual {self.plan.residual!r}, this host knows {RESIDUALS}")
        self.decryptor = str(offer["decryptor"])
        self.is_decryptor = self.decryptor == party.party_id
        self.guest_sums = int(offer["n_sums"])
        refusal = _check_plan(self.plan, self.min_batch_size, party.party_id)
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
            other_hello = _recv_dict(party, other, "hello")
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
        for epoch in range(self.plan.max_iter):
            if self.plan.refreshes_slopes(epoch):
                self.row_factors = self._recv_factors()
            for rows in self.plan.batches(epoch):
                grad = self._batch(rows, w)
                w = self.update.step(w, grad)
            status = _recv_dict(self.party, self.guest, "epoch")
            history.append(float(status["loss"]))
            if status.get("stop"):
                break
        return Result(w, history, len(history))

    def _batch(self, rows: np.ndarray, w: np.ndarray) -> np.ndarray:
        party, gkey = self.party, self.guest_key
        u = self.X[rows] @ w
        quarter = fp.encode_quarter_u(u, party.party_id)
        party.send(self.guest, tag("u_host"), self.kernels.encrypt(self.to_guest_key, quarter, self.pool))
        if self.row_factors is not None:  # [[f_i * 0.25 u_i]]_G from the guest's encrypted row factors
            own = self.kernels.power(gkey, self.row_factors[rows], fp.encode(0.25 * u, fp.FACTORED_U_FRAC_BITS))  # u checked above
            share = pk.object_array(gkey.rerandomize_short(list(own))) if self.others else None  # to hosts, not the key owner
        else:
            own = None
            share = self.kernels.encrypt(gkey, quarter) if self.others else None
        for other in self.others:
            party.send(other, tag("u_host_shared"), share)

        d = pk.check_ciphertexts(gkey, party.recv(self.guest, tag("d_guest")), len(rows), peer=self.guest, what=tag("d_guest"))
        d = pk.add_plain(gkey, d, quarter) if own is None else pk.add(gkey, d, own)
        for other in self.others:
            part = pk.check_ciphertexts(gkey, party.recv(other, tag("u_host_shared")), len(rows), peer=other, what=tag("u_host_shared"))
            d = pk.add(gkey, d, part)
        exponents = self.exponents[rows]
        if self.plan.min_support > 1:  # columns whose sum would isolate a few rows add 0 (the sum is 0)
            exponents = exponents * supported_columns(self.X[rows], self.plan.min_support)
        grad_cts = self.kernels.xt_dot(gkey, d, exponents)
        grad_sum = _decode_sums(self.masked_sums(gkey, grad_cts, self.guest, "host_gradient"), fp.D_FRAC_BITS + self.frac_bits)

        half_dot = 0.5 * float(w @ grad_sum)  # 0.5 * D_H = 0.5 * u_H^T d
        party.send(self.guest, tag("host_loss"), self.kernels.encrypt(self.to_guest_key, fp.encode([half_dot], fp.LOSS_FRAC_BITS)))
        if self.is_decryptor:
            self.decrypt_for(self.guest, "guest_gradient", self.guest_sums)
        return grad_sum / len(rows)


def new_seed() -> int:
    return secrets.randbits(63)


def _sigmoid(u: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * u))
