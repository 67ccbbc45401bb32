"""Hetero (vertical) neural networks: numpy layers, the split protocol with an encrypted interactive layer
(docs/protocols/hetero_nn.md), its parameters."""

from airflow_provider_powerfl.algorithms.hetero_nn.estimator import HeteroNN

__all__ = ["HeteroNN"]
