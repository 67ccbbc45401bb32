"""Hetero LR's defences of the guest's labels towards the hosts (docs/protocols/hetero_lr.md): Gaussian noise
on each row's residual with its (epsilon, delta) accounting, and the minimum support a column's gradient
sum needs before a host may learn it.
"""

from __future__ import annotations

import math
import secrets

import numpy as np

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
