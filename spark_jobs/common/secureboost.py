"""SecureBoost in the train and predict steps: the estimator from the task spec, and feature importance per party."""

from __future__ import annotations

from typing import Any

from airflow_provider_powerfl.algorithms.secureboost import HeteroSecureBoost
from airflow_provider_powerfl.algorithms.secureboost.params import SecureBoostParams
from airflow_provider_powerfl.jobs.params import TASK_OBJECTIVES, SecureBoostTrain

TASK_OF = {xgb: task for task, xgb in TASK_OBJECTIVES.items()}  # XGBoost's objective -> the task it scores
IMPORTANCE_METHOD = "split_gain"
TASKS_PER_CORE = 2  # Spark tasks per core per chunk map: a tree level's many small chunks share a few tasks


def objective_of(name: str) -> tuple[str, str]:
    """``params.objective`` (the task's name or XGBoost's) as (XGBoost's objective name, task)."""
    xgb = TASK_OBJECTIVES.get(name, name)
    return xgb, TASK_OF[xgb]


def build_estimator(params: SecureBoostTrain, executor: Any) -> HeteroSecureBoost:
    """This party's HeteroSecureBoost (no party yet) from the step's checked parameters."""
    estimator_params = params.model_dump(include=set(SecureBoostParams.model_fields) - {"objective"})
    objective, _ = objective_of(params.objective)
    return HeteroSecureBoost(objective=objective, executor=executor, timeout=params.timeout, **estimator_params)


def own_importance(model: HeteroSecureBoost, names: list[str]) -> dict[str, Any]:
    """feature_importance.json of this party: split count (and, at the guest, total gain) of each own feature.

    A host learns its split counts only; gains are the guest's, which sees a host's splits by opaque id.
    """
    split = model.feature_importance_["split"]
    gain = model.feature_importance_.get("gain")
    features = [
        {"feature": name, "split": int(split[j]), **({} if gain is None else {"gain": float(gain[j])})}
        for j, name in enumerate(names)
    ]
    out: dict[str, Any] = {"method": IMPORTANCE_METHOD, "features": features}
    if model.role_ == "guest":
        out["hosts"] = {
            host: {"splits": len(gains), "gain": float(sum(gains.values()))} for host, gains in model.host_split_gain_.items()
        }
    return out


def report_importance(model: HeteroSecureBoost, party_id: str, names: list[str]) -> dict[str, dict[str, float]]:
    """The guest report's ``{party: {feature: gain}}``: own features by name, a host's splits as ``split <id>``."""
    importance = {party_id: {name: float(g) for name, g in zip(names, model.feature_importance_["gain"], strict=True)}}
    for host, gains in model.host_split_gain_.items():
        importance[host] = {f"split {i}": float(g) for i, g in sorted(gains.items())}
    return importance
