"""The federated steps DAG authors use: align, train (by algorithm), predict, feature engineering."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.operators.step import FederatedStepOperator

# algorithm name -> the step's default parameters; spark_jobs/train.py dispatches on params.algorithm
ALGORITHMS: Mapping[str, Mapping[str, Any]] = {
    "hetero_lr": {},
    "secureboost": {},
    "hetero_nn": {},
}


class FederatedAlignOperator(FederatedStepOperator):
    """Private set intersection of the parties' ids (``spark_jobs/align.py``); outputs the aligned inputs."""

    step = "align"


class FederatedTrainOperator(FederatedStepOperator):
    """
    Train a vertical federated model (``spark_jobs/train.py``).

    :param algorithm: one of ``ALGORITHMS`` (``hetero_lr``, ``secureboost``, ``hetero_nn``); checked when the DAG is parsed.
    """

    step = "train"

    def __init__(self, *, algorithm: str = "hetero_lr", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if algorithm not in ALGORITHMS:
            raise ConfigError(f"{self.task_id}: unknown algorithm {algorithm!r} (known: {', '.join(sorted(ALGORITHMS))})")
        self.algorithm = algorithm

    def step_params_for(self, context: Any) -> dict[str, Any]:
        return {**ALGORITHMS[self.algorithm], **super().step_params_for(context), "algorithm": self.algorithm}


class FederatedPredictOperator(FederatedStepOperator):
    """Joint prediction with a trained model (``spark_jobs/predict.py``); the guest's result carries AUC and KS."""

    step = "predict"


class FederatedFeatureEngineeringOperator(FederatedStepOperator):
    """Federated feature engineering (``spark_jobs/feature_engineering.py``: binning, WOE/IV, selection)."""

    step = "feature_engineering"
