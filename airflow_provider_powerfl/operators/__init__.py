"""Operators running one party's side of a federated step."""

from __future__ import annotations

from airflow_provider_powerfl.operators.enclave import FederatedEnclaveOperator
from airflow_provider_powerfl.operators.federated import (
    ALGORITHMS,
    FederatedAlignOperator,
    FederatedFeatureEngineeringOperator,
    FederatedPredictOperator,
    FederatedTrainOperator,
)
from airflow_provider_powerfl.operators.step import FederatedStepOperator

__all__ = [
    "ALGORITHMS",
    "FederatedAlignOperator",
    "FederatedEnclaveOperator",
    "FederatedFeatureEngineeringOperator",
    "FederatedPredictOperator",
    "FederatedStepOperator",
    "FederatedTrainOperator",
]
