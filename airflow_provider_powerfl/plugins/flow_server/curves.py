"""Chart series derived from a binary ``metrics.json`` (ROC, KS, PR, lift, gain, loss) and a confusion at any threshold."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow_provider_powerfl.exceptions import ConfigError


def curves(metrics: Mapping[str, Any]) -> dict[str, list[dict[str, float]]]:
    """Every chart's points; empty lists for what the report does not have (non-binary tasks)."""
    roc = metrics.get("roc_curve") or {}
    fpr, tpr = list(roc.get("fpr") or []), list(roc.get("tpr") or [])
    pos, neg = metrics.get("positives") or 0, metrics.get("negatives") or 0
    n = pos + neg
    lift = metrics.get("lift_table") or []
    loss = (metrics.get("loss") or {}).get("values") or []
    out: dict[str, list[dict[str, float]]] = {
        "roc": [{"fpr": f, "tpr": t} for f, t in zip(fpr, tpr, strict=False)],
        "ks": [],
        "pr": [],
        "lift": [{"population": row["population_pct"], "lift": row["lift"]} for row in lift],
        "gain": [{"population": row["population_pct"], "gain": row["cumulative_gain"]} for row in lift],
        "loss": [{"epoch": i, "loss": value} for i, value in enumerate(loss, start=1)],
    }
    if n:
        for f, t in zip(fpr, tpr, strict=False):
            predicted = t * pos + f * neg
            out["ks"].append({"population": predicted / n, "tpr": t, "fpr": f, "gap": t - f})
            if predicted > 0:
                out["pr"].append({"recall": t, "precision": t * pos / predicted})
    return out


def confusion_at(predictions: Path, threshold: float) -> dict[str, Any]:
    """TP/FP/TN/FN and their ratios at `threshold` from ``predictions.csv`` (``probability`` and ``label`` columns)."""
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"threshold: expected a probability in [0, 1], got {threshold}")
    counts = {"tp": 0, "fp": 0, "tn": 0, "fn": 0}
    with predictions.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if "probability" not in row or "label" not in row:
                raise ConfigError(f"threshold: {predictions.name} has no probability and label columns (not a binary report)")
            positive, actual = float(row["probability"]) >= threshold, float(row["label"]) == 1.0
            counts[("t" if positive == actual else "f") + ("p" if positive else "n")] += 1
    return {"threshold": threshold, **counts, **ratios(counts)}


def ratios(counts: Mapping[str, int]) -> dict[str, float]:
    tp, fp, tn, fn = counts["tp"], counts["fp"], counts["tn"], counts["fn"]
    total = tp + fp + tn + fn
    return {
        "accuracy": (tp + tn) / total if total else 0.0,
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp else 0.0,
    }
