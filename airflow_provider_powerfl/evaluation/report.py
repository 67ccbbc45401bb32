"""Write an evaluation report directory: ``metrics.json`` plus PNG charts.

The directory appears complete or not at all: everything is written into a
hidden sibling temporary directory that is renamed into place last, so a
dashboard polling ``out_dir`` never sees half a report.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from airflow_provider_powerfl.evaluation import checks, plots
from airflow_provider_powerfl.evaluation.binary import roc_curve
from airflow_provider_powerfl.exceptions import ConfigError, DataError

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
ROC_FILE = "roc.png"
KS_FILE = "ks.png"
LOSS_FILE = "loss.png"


def write_report(
    out_dir: str | os.PathLike[str],
    metrics: Mapping[str, Any],
    y_true: Sequence[float] | np.ndarray,
    y_score: Sequence[float] | np.ndarray,
    loss_history: Sequence[float] | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """Write ``metrics.json``, ``roc.png``, ``ks.png`` and (given a loss history) ``loss.png``.

    :param metrics: e.g. the dict :func:`evaluate_binary` returned; must be
        strict JSON (no NaN, infinity or non-JSON types).
    :param overwrite: replace an existing report (a retried task); otherwise
        an existing ``out_dir`` is an error.
    :return: the report directory.
    """
    target = Path(out_dir)
    if target.exists() and not overwrite:
        raise ConfigError(f"out_dir: {target} already exists (pass overwrite=True to replace it)")
    try:
        body = json.dumps(metrics, indent=2, allow_nan=False, sort_keys=False)
    except (TypeError, ValueError) as exc:
        raise DataError(f"metrics: not strict JSON ({exc})") from None
    labels = checks.binary_labels("y_true", y_true)
    scores = checks.vector("y_score", y_score)
    checks.same_length("y_true", labels, "y_score", scores)
    losses = checks.loss_history(loss_history) if loss_history is not None else None

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        curve = roc_curve(labels, scores)
        plots.plot_roc(curve, staging / ROC_FILE)
        plots.plot_ks(curve, staging / KS_FILE)
        if losses is not None:
            plots.plot_loss(losses, staging / LOSS_FILE)
        (staging / METRICS_FILE).write_text(body + "\n", encoding="utf-8")
        _fsync_tree(staging)
        os.chmod(staging, 0o755)  # mkdtemp makes it 0700
        _install(staging, target, overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("evaluation report written to %s", target)
    return target


def _install(staging: Path, target: Path, overwrite: bool) -> None:
    """Rename ``staging`` to ``target``; an old report is moved aside first and
    put back if the rename fails, then deleted."""
    if not (overwrite and target.exists()):
        try:
            os.rename(staging, target)
        except OSError as exc:  # created meanwhile by someone else
            raise ConfigError(f"out_dir: cannot create {target} ({exc})") from None
        _fsync_dir(target.parent)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    os.rename(target, old / target.name)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old / target.name, target)
        shutil.rmtree(old, ignore_errors=True)
        raise
    _fsync_dir(target.parent)
    shutil.rmtree(old, ignore_errors=True)


def _fsync_tree(directory: Path) -> None:
    for path in directory.iterdir():
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
