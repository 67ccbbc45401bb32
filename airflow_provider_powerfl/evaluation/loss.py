"""The training loss curve as reported next to the metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_powerfl.evaluation import checks


def loss_report(loss_history: Sequence[float]) -> dict[str, Any]:
    """Loss per epoch (epoch 1 first) with its first, last and best value."""
    values = checks.loss_history(loss_history)
    best = min(range(len(values)), key=values.__getitem__)
    return {
        "values": values,
        "epochs": len(values),
        "first": values[0],
        "last": values[-1],
        "min": values[best],
        "min_epoch": best + 1,
    }
