"""Evaluation of trained models: metrics as JSON-able dicts and report files.

``evaluate_binary`` / ``evaluate_multiclass`` / ``evaluate_regression``
compute the numbers; ``write_report`` puts them on disk with charts
(matplotlib is imported only then). See docs/evaluation.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_powerfl.evaluation.binary import evaluate_binary
from airflow_provider_powerfl.evaluation.importance import LR_IMPORTANCE_METHOD, lr_feature_importance
from airflow_provider_powerfl.evaluation.multiclass import evaluate_multiclass
from airflow_provider_powerfl.evaluation.regression import evaluate_regression

if TYPE_CHECKING:
    from airflow_provider_powerfl.evaluation.report import write_report

__all__ = [
    "LR_IMPORTANCE_METHOD",
    "evaluate_binary",
    "evaluate_multiclass",
    "evaluate_regression",
    "lr_feature_importance",
    "write_report",
]


def __getattr__(name: str) -> Any:
    # Keeps matplotlib out of processes that only compute metrics.
    if name == "write_report":
        from airflow_provider_powerfl.evaluation.report import write_report

        return write_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
