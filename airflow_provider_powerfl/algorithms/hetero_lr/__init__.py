"""Hetero (vertical) logistic regression: the estimator, its protocol messages (docs/protocols/hetero_lr.md), its parameters."""

from airflow_provider_powerfl.algorithms.hetero_lr.estimator import HeteroLogisticRegression

__all__ = ["HeteroLogisticRegression"]
