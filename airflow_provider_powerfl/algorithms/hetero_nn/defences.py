"""What hosts receive, defended: each row's gradient at the interactive layer clipped to a max norm, its norm
equalized, plus noise.

The guest clips the per-row gradient g_r = d loss_r / d z_r (z the interactive layer's pre-activation) to
L2 norm ``max_norm`` = C; with ``equalize`` it adds N(0, s_r^2 I), s_r^2 = (C^2 - |g_r|^2) / h, so every row's
expected squared norm is C^2 whatever its label (the norm attack's signal: positives get larger gradients; Li et
al. 2022's "max norm" defence, to the clip bound); then N(0, (sigma C)^2) to every entry; all noise fresh per row
and batch from the OS CSPRNG, before anything derived from it goes to a host (the host receives e_r = g~_r W^T:
post-processing).

Accounting (Renyi DP of Gaussians, Mironov 2017): a label change moves one row's clipped g_r by at most 2 C and
changes its variance within [sigma^2 C^2, sigma^2 C^2 + C^2 / h] (equalize), no other row's of that batch; the
bound below takes the worst mean shift and the worst pair of variances independently. A row is in one batch per
epoch, so E epochs add E times the order-alpha divergence, and order alpha gives (E D_alpha + ln(1/delta) /
(alpha - 1), delta)-DP, minimised over alpha. Without ``equalize`` this is the Gaussian mechanism's zCDP bound
(rho + 2 sqrt(rho ln(1/delta)), rho = 2 E / sigma^2). Not covered: a label's indirect effect on later rows
through the guest's top model, and the epoch losses.
"""

from __future__ import annotations

import math

import numpy as np

from airflow_provider_powerfl.algorithms.hetero_lr.defences import secure_normal

NOISE_CLIP = 8.0  # |noise| per entry is clipped at NOISE_CLIP times its std (far out in the tail)
_ALPHAS = np.concatenate([np.linspace(1.01, 2.0, 100), np.linspace(2.0, 64.0, 621)[1:], np.geomspace(64.0, 1e5, 200)[1:]])


def _divergence(alpha: np.ndarray, sigma: float, units: int, equalize: bool) -> np.ndarray:
    """Order-alpha Renyi divergence of one batch for one row's label (C = 1), worst case over the variances."""
    low = sigma * sigma
    variances = (low, low + 1.0 / units) if equalize else (low,)
    worst = np.zeros_like(alpha)
    for v1 in variances:
        for v2 in variances:
            mixed = (1 - alpha) * v1 + alpha * v2
            with np.errstate(invalid="ignore", divide="ignore"):
                d = 2.0 * alpha / mixed + units / (2 * (1 - alpha)) * (
                    np.log(mixed) - (1 - alpha) * math.log(v1) - alpha * math.log(v2)
                )
            worst = np.maximum(worst, np.where(mixed > 0, d, np.inf))
    return worst


def epsilon_of(sigma: float, delta: float, epochs: int, units: int = 4, equalize: bool = False) -> float:
    """The epsilon that noise ``sigma`` (in units of max_norm) gives over ``epochs`` at ``delta``."""
    if sigma <= 0:
        return math.inf
    return float(np.min(epochs * _divergence(_ALPHAS, sigma, units, equalize) + math.log(1 / delta) / (_ALPHAS - 1)))


def noise_multiplier(epsilon: float, delta: float, epochs: int, units: int = 4, equalize: bool = False) -> float:
    """The smallest sigma (noise std in units of max_norm) for (epsilon, delta)-DP over ``epochs`` (bisection)."""
    low, high = 1e-3, 1e4
    for _ in range(80):
        mid = math.sqrt(low * high)
        low, high = (low, mid) if epsilon_of(mid, delta, epochs, units, equalize) <= epsilon else (mid, high)
    return high


def _noise(shape: tuple[int, ...], std: np.ndarray | float) -> np.ndarray:
    return np.clip(secure_normal(math.prod(shape)).reshape(shape), -NOISE_CLIP, NOISE_CLIP) * std


def defend(grad_rows: np.ndarray, max_norm: float | None, sigma: float, equalize: bool = False) -> np.ndarray:
    """Per-row gradients clipped to ``max_norm`` (None: untouched), norm-equalized, with noise of std sigma max_norm."""
    out = np.array(grad_rows, dtype=np.float64)
    if max_norm is None:
        return out
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    out *= np.minimum(1.0, max_norm / np.maximum(norms, 1e-300))
    if equalize:
        missing = np.maximum(max_norm * max_norm - np.sum(out * out, axis=1, keepdims=True), 0.0)
        out += _noise(out.shape, np.sqrt(missing / out.shape[1]))
    if sigma > 0:
        out += _noise(out.shape, sigma * max_norm)
    return out
