"""Small PNG charts of an evaluation, drawn off-screen.

Uses ``matplotlib.figure.Figure`` directly (Agg canvas) rather than pyplot:
no global figure state, no display backend, safe in worker threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from airflow_provider_powerfl.evaluation.binary import RocCurve, auc, ks

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FIGSIZE = (4.0, 3.0)  # inches
DPI = 100


def _figure() -> tuple[Figure, Axes]:
    # imported here: matplotlib costs every Spark step 1.5-3 s at start-up, and only the reports draw
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _save(fig: Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, format="png")


def plot_roc(curve: RocCurve, path: Path) -> None:
    fig, ax = _figure()
    ax.plot(curve.fpr, curve.tpr, lw=1.5, label=f"AUC = {auc(curve):.4f}")
    ax.plot([0, 1], [0, 1], ls="--", lw=0.8, color="grey")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax.legend(loc="lower right", fontsize="small")
    _save(fig, path)


def plot_ks(curve: RocCurve, path: Path) -> None:
    """TPR and FPR against the score threshold, KS marked where they part most."""
    fig, ax = _figure()
    cut = curve.thresholds[1:]  # drop the +inf start
    ax.plot(cut, curve.tpr[1:], lw=1.5, label="TPR (positives >= t)")
    ax.plot(cut, curve.fpr[1:], lw=1.5, label="FPR (negatives >= t)")
    value, at = ks(curve)
    if at is not None:
        i = int(np.flatnonzero(curve.thresholds == at)[0])
        ax.vlines(at, curve.fpr[i], curve.tpr[i], colors="black", lw=1.0, label=f"KS = {value:.4f} @ {at:.4g}")
    ax.set(xlabel="score threshold t", ylabel="rate", ylim=(0, 1.01), title="KS")
    ax.legend(loc="best", fontsize="x-small")
    _save(fig, path)


def plot_loss(loss_history: Sequence[float], path: Path) -> None:
    fig, ax = _figure()
    epochs = np.arange(1, len(loss_history) + 1)
    ax.plot(epochs, loss_history, marker="o" if len(loss_history) <= 30 else None, ms=3, lw=1.5)
    ax.set(xlabel="epoch", ylabel="loss", title="Training loss")
    _save(fig, path)
