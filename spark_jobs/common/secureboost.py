"""SecureBoost in the train and predict steps: the estimator from the task spec, and feature importance per party."""

from __future__ import annotations

from typing import Any

from airflow_provider_powerfl.algorithms.secureboost import HeteroSecureBoost
from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.jobs.spec import TaskSpec

# params.objective (the task's name, or XGBoost's) -> (XGBoost's name, task)
OBJECTIVES = {
    "binary": ("binary:logistic", "binary"),
    "multiclass": ("multi:softprob", "multiclass"),
    "regression": ("reg:squarederror", "regression"),
}
TASK_OF = {xgb: task for xgb, task in OBJECTIVES.values()}
ESTIMATOR_PARAMS = (
    "n_estimators", "max_depth", "learning_rate", "max_bin", "min_child_weight", "reg_lambda", "gamma",
    "subsample", "goss", "top_rate", "other_rate", "early_stopping_rounds", "random_state", "key_length",
    "guest_only_trees", "hist_noise",
)  # fmt: skip
IMPORTANCE_METHOD = "split_gain"
TASKS_PER_CORE = 2  # Spark tasks per core per chunk map: a tree level's many small chunks share a few tasks


def objective_param(spec: TaskSpec) -> tuple[str, str]:
    """``params.objective`` (default binary) as (XGBoost's objective name, task)."""
    value = spec.params.get("objective", "binary")
    if value in OBJECTIVES:
        return OBJECTIVES[value]
    if value in TASK_OF:
        return value, TASK_OF[value]
    raise ConfigError(f"params.objective: expected one of {', '.join([*OBJECTIVES, *TASK_OF])}, got {value!r}")


def build_estimator(spec: TaskSpec, executor: Any, timeout: float) -> HeteroSecureBoost:
    """This party's HeteroSecureBoost (no party yet) from the spec's params, checked before any peer is contacted."""
    objective, _ = objective_param(spec)
    params = {name: spec.params[name] for name in ESTIMATOR_PARAMS if name in spec.params}
    model = HeteroSecureBoost(objective=objective, executor=executor, timeout=timeout, **params)
    try:
        model.check_params()
    except ConfigError as exc:
        raise ConfigError(f"params.{exc}") from None
    return model


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
        out["hosts"] = {host: {"splits": len(gains), "gain": float(sum(gains.values()))} for host, gains in model.host_split_gain_.items()}
    return out


def report_importance(model: HeteroSecureBoost, party_id: str, names: list[str]) -> dict[str, dict[str, float]]:
    """The guest report's ``{party: {feature: gain}}``: own features by name, a host's splits as ``split <id>``."""
    importance = {party_id: {name: float(g) for name, g in zip(names, model.feature_importance_["gain"], strict=True)}}
    for host, gains in model.host_split_gain_.items():
        importance[host] = {f"split {i}": float(g) for i, g in sorted(gains.items())}
    return importance
