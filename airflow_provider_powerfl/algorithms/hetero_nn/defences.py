"""What hosts receive, defended: each row's gradient at the interactive layer clipped to a max norm, plus noise.

The guest clips the per-row gradient g_r = d loss_r / d z_r (z the interactive layer's pre-activation) to
L2 norm ``max_norm`` and adds N(0, (sigma max_norm)^2) to every entry, fresh per row and batch from the OS
CSPRNG, before anything derived from it goes to a host (the host receives e_r = g~_r W^T: post-processing).
Accounting (Gaussian mechanism, zCDP): one row's label changes its clipped g_r by at most 2 max_norm in L2
and no other row's g of that batch, so a batch is rho = 2 / sigma^2-zCDP for that row; a row is in one batch per
epoch, so E epochs give rho = 2 E / sigma^2, and rho-zCDP is (rho + 2 sqrt(rho ln(1/delta)), delta)-DP.
Not covered: a label's indirect effect on later rows through the guest's top model, and the epoch losses.
"""

from __future__ import annotations

import math

import numpy as np

from airflow_provider_powerfl.algorithms.hetero_lr.defences import noise_scale, secure_normal

NOISE_CLIP = 8.0  # |noise| per entry is clipped at NOISE_CLIP sigma max_norm (far out in the tail)


def noise_multiplier(epsilon: float, delta: float, epochs: int) -> float:
    """sigma (noise std in units of max_norm) for (epsilon, delta)-DP over ``epochs``: sensitivity 2, so 2x LR's."""
    return 2.0 * noise_scale(epsilon, delta, epochs)


def epsilon_of(sigma: float, delta: float, epochs: int) -> float:
    """The epsilon that ``sigma`` gives over ``epochs`` (the inverse of noise_multiplier)."""
    rho = 2.0 * epochs / (sigma * sigma)
    return rho + 2.0 * math.sqrt(rho * math.log(1.0 / delta))


def defend(grad_rows: np.ndarray, max_norm: float | None, sigma: float) -> np.ndarray:
    """Per-row gradients clipped to ``max_norm`` (None: not clipped) with Gaussian noise of std sigma * max_norm."""
    out = np.array(grad_rows, dtype=np.float64)
    if max_norm is None:
        return out
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    out *= np.minimum(1.0, max_norm / np.maximum(norms, 1e-300))
    if sigma > 0:
        noise = secure_normal(out.size).reshape(out.shape) * sigma * max_norm
        out += np.clip(noise, -NOISE_CLIP * sigma * max_norm, NOISE_CLIP * sigma * max_norm)
    return out
