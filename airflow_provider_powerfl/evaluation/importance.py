"""Feature importance of a linear model, one party at a time.

In vertical LR every party holds the weights of its own features only, so
each party computes its own importances locally; a host's numbers reach the
guest's report only if that host chooses to publish them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from airflow_provider_powerfl.evaluation import checks
from airflow_provider_powerfl.exceptions import DataError

#: The method name :func:`lr_feature_importance` is reported under.
LR_IMPORTANCE_METHOD = "abs_coef_x_std"


def lr_feature_importance(
    coef: Sequence[float] | np.ndarray,
    feature_std: Sequence[float] | np.ndarray,
    feature_names: Sequence[str],
) -> dict[str, float]:
    """``|coef_j| * std_j`` per feature, largest first.

    Multiplying by the feature's standard deviation (on the training data, in
    the units the model saw) makes weights of differently scaled features
    comparable: it is the change in the logit for a one-sigma move of the
    feature. For features already standardised it is just ``|coef_j|``.
    """
    weights = checks.vector("coef", coef)
    spread = checks.vector("feature_std", feature_std)
    names = [str(n) for n in feature_names]
    checks.same_length("coef", weights, "feature_std", spread)
    checks.same_length("coef", weights, "feature_names", names)
    if (spread < 0).any():
        raise DataError(f"feature_std: negative value for feature {names[int(np.argmax(spread < 0))]!r}")
    if len(set(names)) != len(names):
        raise DataError("feature_names: duplicate names")
    values = np.abs(weights) * spread
    order = np.argsort(-values, kind="mergesort")
    return {names[i]: float(values[i]) for i in order}


def importance_report(importance: Mapping[str, Mapping[str, float]], method: str) -> dict[str, Any]:
    """``{method, by_party: {party_id: [{feature, importance, rank}, ...]}}``, largest first."""
    by_party: dict[str, list[dict[str, Any]]] = {}
    for party_id, features in importance.items():
        names = [str(name) for name in features]
        values: list[float] = checks.vector(f"importance[{party_id!r}]", list(features.values())).tolist() if names else []
        ranked = sorted(zip(names, values, strict=True), key=lambda item: -item[1])
        by_party[str(party_id)] = [
            {"feature": name, "importance": float(value), "rank": rank} for rank, (name, value) in enumerate(ranked, start=1)
        ]
    return {"method": method, "by_party": by_party}
