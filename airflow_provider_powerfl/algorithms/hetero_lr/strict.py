"""Hetero LR's ``privacy: "strict"`` mode (docs/protocols/hetero_lr.md, "Strict mode"): what both sides share.

The host's weights W = a + b are additively secret-shared over the integers between the host (a) and the
guest (b), as in FATE's SSHE-LR: per batch the parties turn X_H b into shares by a masked decryption at the
guest, the residual d = 0.25 u + 0.5 - y (FATE SSHE-LR's first-order Taylor sigmoid, 0.5 + 0.25 u) into
shares, and the host's gradient X_H^T d into shares by another masked decryption at the guest; each side
updates its own share by SGD. Neither the host's gradient nor its weights nor its partial scores appear in
the clear at any party until the end, when the guest reveals b to the host (the host's own weights only).

Fixed point: u at 2^-SCORE_FRAC_BITS, d at 2^-(SCORE_FRAC_BITS + 2), a weight share of column j at
2^-(SCORE_FRAC_BITS - f_j) (f_j the column's exponent scale, 0 or 20), so E W is u at 2^-SCORE_FRAC_BITS.
Shares are exact Python integers (no modulus): scaling a share by a public rational and rounding locally
errs by at most one unit per share. Every mask is uniform over 128 bits more than the value it hides
(``masking``: statistical distance < 2^-128), so the bounds below only grow the shares by known bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from airflow_provider_powerfl.algorithms import fixed_point as fp, masking, paillier_kernels as pk
from airflow_provider_powerfl.algorithms.hetero_lr.protocol import PROTOCOL_VERSION, Result, tag
from airflow_provider_powerfl.crypto.obfuscator_pool import ObfuscatorPool, ZeroPool
from airflow_provider_powerfl.crypto.paillier import PaillierPublicKey
from airflow_provider_powerfl.exceptions import ConfigError, DataError

# a strict guest's offer names this version, so a default-mode host refuses it at once (and the reverse)
STRICT_VERSION = 100 + PROTOCOL_VERSION
SCORE_FRAC_BITS = 56  # u at 2^-56: a float column's weight share is at 2^-36, an integer column's at 2^-56
U_BITS = 30  # the bounds assume |u| < 2^30 (slot widths); the guest stops at |u| >= 2^20 (see LOSS_LIMIT)
LOSS_LIMIT = 2.0**37  # a batch loss at or above this means some |u| >= 2^20: the weights diverged
STAT = masking.STATISTICAL_BITS


def strict_tag(name: str) -> str:
    return tag(f"strict.{name}")


def refuse_hosts(n_hosts: int, where: str) -> None:
    """Strict mode is two-party (one guest, one host): a ConfigError naming ``privacy`` otherwise."""
    if n_hosts != 1:
        raise ConfigError(f"privacy='strict' supports one guest and one host; {where} has {n_hosts} hosts")


@dataclass(frozen=True)
class Bounds:
    """Bits of every shared quantity, the same at both parties (from the plan and the host's public settings)."""

    rows: int  # largest batch
    n_batches: int  # over all epochs
    host_features: int
    guest_sums: int  # the guest's gradient (with intercept) and its loss
    learning_rate: float

    @property
    def residual(self) -> int:  # |d| at 2^-(S + 2): 0.25 |u| + 1 < 2^(U_BITS - 1)
        return SCORE_FRAC_BITS + 2 + U_BITS

    @property
    def gradient(self) -> int:  # |X_H^T d|, and the guest's |X_G^T d|
        return fp.batch_sum_bits(self.rows, fp.MAX_EXPONENT_BITS, self.residual)

    @property
    def share(self) -> int:
        """|a|, |b| < 2^share: each batch adds at most lr * (2^(gradient + 129) + 1) (c = lr / (m 4^(1+f)) <= lr)."""
        lr_bits = max(0, math.ceil(math.log2(self.learning_rate)))
        return self.gradient + STAT + 2 + lr_bits + self.n_batches.bit_length()

    @property
    def xb(self) -> int:  # |X_H b| and |X_H a| per row
        return self.share + fp.MAX_EXPONENT_BITS + self.host_features.bit_length()

    @property
    def loss(self) -> int:  # |sum_i U_i^2 - 4 2^S y'_i U_i| with U = u 2^S
        return max(self.rows, 1).bit_length() + 2 * SCORE_FRAC_BITS + 2 * U_BITS + 2

    def check(self, n_bits: int) -> None:
        """Refuse a key whose plaintexts cannot hold a share-sized value and its mask."""
        masking.check_hidden(self.xb, n_bits, "strict mode's shared partial scores")
        masking.check_hidden(max(self.gradient, self.loss), n_bits, "strict mode's gradient and loss sums")
        if self.xb + STAT + 4 >= n_bits - 2:  # the encrypted residual and score shares stay below max_int
            raise ConfigError(f"strict mode's shares need more than a {n_bits}-bit key: raise key_length")


def masked_shares(private, kernels: pk.Kernels, obj: object, count: int, bound: int, *, peer: str, what: str) -> list[int]:
    """The guest's shares of ``count`` values the host sent packed and masked under the guest's key (``masking``).

    Each share is the slot v + 2^bound + r; the host keeps -(2^bound + r). Checked before decryption."""
    n_bits = private.public_key.n_bits
    cts = pk.check_ciphertexts(private.public_key, obj, masking.packed_count(count, bound, n_bits), peer=peer, what=what)
    plain = kernels.decrypt(private, cts)
    width, per = masking.slot_bits(bound), masking.slots_per_plaintext(bound, n_bits)
    if any(v < 0 for v in plain):
        raise DataError(f"party {peer} sent {what} that decrypt to negative packed slots")
    return [plain[k // per] >> (k % per * width) & ((1 << width) - 1) for k in range(count)]


def mask_for_guest(public: PaillierPublicKey, cts: np.ndarray, bound: int, zeros) -> tuple[np.ndarray, list[int]]:
    """(packed masked ciphertexts for the guest, the host's shares -(2^bound + r))."""
    packed, masks = masking.pack_masked(public, cts, bound, zeros)
    return packed, [-((1 << bound) + r) for r in masks]


def update_share(share: list[int], grad_share: list[int], frac_bits: np.ndarray, rows: int, lr: float, alpha: float) -> list[int]:
    """One SGD step on a weight share: W_j -= lr (alpha W_j + G_j / (rows 4^(1 + f_j))), rounded locally.

    G_j is a share of X_H^T d at 2^-(S + 2 + f_j) and W_j a share of w_j at 2^-(S - f_j), so
    lr g_j / rows in W's units is lr G_j / (rows 2^(2 + 2 f_j)). Linear in the shares, so the two
    rounded halves sum to the plaintext step within one unit (L2 included; L1 and Adam are not linear).
    """
    rate, decay = Fraction(lr), Fraction(lr) * Fraction(alpha)
    out = []
    for w, g, f in zip(share, grad_share, frac_bits, strict=True):
        out.append(w - round(decay * w) - round(rate * g / (rows << (2 + 2 * int(f)))))
    return out


def weights_of(total: list[int], frac_bits: np.ndarray) -> np.ndarray:
    """Revealed integer weights W_j at 2^-(S - f_j) as floats."""
    return np.array([w / (1 << (SCORE_FRAC_BITS - int(f))) for w, f in zip(total, frac_bits, strict=True)])


def matvec(E: np.ndarray, share: list[int]) -> list[int]:
    """E share (rows), exactly, for int64 exponents and big-integer shares."""
    return fp.column_sums(np.ascontiguousarray(E.T), share)


def add_residues(public: PaillierPublicKey, ciphertexts: np.ndarray, values: list[int]) -> np.ndarray:
    """[[m + v mod n]] for integers v of any size: intermediate shares may exceed the signed plaintext range,
    the sums they end in do not (the masks cancel modulo n)."""
    n, nsq = public.n, public.nsquare
    return pk.object_array(c * (1 + int(v) % n * n) % nsq for c, v in zip(ciphertexts, values, strict=True))


class StrictFit:
    """fit() of both strict sides: the own key's obfuscators and the peer key's r^n made ahead while waiting."""

    def fit(self) -> Result:
        self.setup()
        key, count = self.zero_plan
        with ObfuscatorPool(self.private, self.plan.largest_batch) as self.pool, ZeroPool(key, count) as self.zeros:
            return self._epochs()
