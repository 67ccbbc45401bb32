"""SecureBoost: vertical gradient-boosted trees (docs/protocols/secureboost.md) and the plaintext reference."""

from airflow_provider_powerfl.algorithms.secureboost.estimator import GradientBoostedTrees, HeteroSecureBoost

__all__ = ["GradientBoostedTrees", "HeteroSecureBoost"]
