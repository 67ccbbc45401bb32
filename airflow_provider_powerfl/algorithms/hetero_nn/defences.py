"""What hosts receive, defended: each row's gradient at the interactive layer clipped to a max norm, optionally
brought to exactly that norm, plus noise.

The guest clips the per-row gradient g_r = d loss_r / d z_r (z the interactive layer's pre-activation) to L2 norm
``max_norm`` = C; with ``equalize`` it adds a vector orthogonal to g_r, of uniformly random direction and of norm
sqrt(C^2 - |g_r|^2), so every row's vector has norm exactly C whatever its label (the norm attack's signal:
positives get larger gradients; Li et al. 2022's "max norm" defence, made exact); then N(0, (sigma C)^2) to every
entry. All noise is fresh per row and batch from the OS CSPRNG, before anything derived from it goes to a host
(the host receives e_r = g~_r W^T, W orthogonal: post-processing that keeps the norm).

Accounting (Gaussian mechanism, zCDP, Bun and Steinke 2016): a label change moves one row's clipped vector by at
most 2 C (with ``equalize`` both vectors lie on the sphere of radius C, whatever the random direction: the output
is a mixture over that direction of Gaussians each shifted by at most 2 C, and a mixture's Renyi divergence is at
most the worst component's), and no other row's of that batch, so an epoch is rho = 2 / sigma^2-zCDP for that
row, E epochs 2 E / sigma^2, which is (rho + 2 sqrt(rho ln(1/delta)), delta)-DP. Not covered: a label's indirect
effect on later rows through the guest's top model, and the epoch losses.
"""

from __future__ import annotations

import math

import numpy as np

from airflow_provider_powerfl.algorithms.hetero_lr.defences import secure_normal

NOISE_CLIP = 8.0  # |noise| per entry is clipped at NOISE_CLIP times its std (far out in the tail)


def epsilon_of(sigma: float, delta: float, epochs: int) -> float:
    """The epsilon that noise ``sigma`` (in units of max_norm) gives over ``epochs`` at ``delta``."""
    if sigma <= 0:
        return math.inf
    rho = 2.0 * epochs / (sigma * sigma)
    return rho + 2.0 * math.sqrt(rho * math.log(1.0 / delta))


def noise_multiplier(epsilon: float, delta: float, epochs: int) -> float:
    """The smallest sigma (noise std in units of max_norm) for (epsilon, delta)-DP over ``epochs``."""
    log_inv = math.log(1.0 / delta)
    rho = (math.sqrt(log_inv + epsilon) - math.sqrt(log_inv)) ** 2
    return math.sqrt(2.0 * epochs / rho)


def _normal(shape: tuple[int, ...]) -> np.ndarray:
    return np.clip(secure_normal(math.prod(shape)).reshape(shape), -NOISE_CLIP, NOISE_CLIP)


def defend(grad_rows: np.ndarray, max_norm: float | None, sigma: float, equalize: bool = False) -> np.ndarray:
    """Per-row gradients clipped to ``max_norm`` (None: untouched), brought to norm max_norm, plus noise sigma max_norm."""
    out = np.array(grad_rows, dtype=np.float64)
    if max_norm is None:
        return out
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    out *= np.minimum(1.0, max_norm / np.maximum(norms, 1e-300))
    if equalize:
        unit = out / np.maximum(np.minimum(norms, max_norm), 1e-300)
        side = _normal(out.shape)
        side -= np.sum(side * unit, axis=1, keepdims=True) * unit  # orthogonal to the row (any direction if it is 0)
        side /= np.maximum(np.linalg.norm(side, axis=1, keepdims=True), 1e-300)
        out += side * np.sqrt(np.maximum(max_norm * max_norm - np.sum(out * out, axis=1, keepdims=True), 0.0))
    if sigma > 0:
        out += _normal(out.shape) * (sigma * max_norm)
    return out
