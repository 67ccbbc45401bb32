"""SecureBoost: vertical gradient-boosted trees (docs/protocols/secureboost.md) and the plaintext reference."""

from airflow_provider_powerfl.algorithms.secureboost.estimator import HeteroSecureBoost
from airflow_provider_powerfl.algorithms.secureboost.plaintext import GradientBoostedTrees

__all__ = ["GradientBoostedTrees", "HeteroSecureBoost"]
