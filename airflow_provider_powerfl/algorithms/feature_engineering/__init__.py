"""Feature engineering: binning with federated WOE/IV, selection, scaling, one-hot, statistics.

Every transform keeps its fitted state per party (``to_dict``/``from_dict``) so training and
prediction apply the same transform. Only binning WOE/IV and IV selection talk to peers.
"""

from __future__ import annotations

from airflow_provider_powerfl.algorithms.feature_engineering.binning import Binner
from airflow_provider_powerfl.algorithms.feature_engineering.hetero_binning import HeteroFeatureBinning
from airflow_provider_powerfl.algorithms.feature_engineering.pipeline import FeaturePipeline
from airflow_provider_powerfl.algorithms.feature_engineering.scaling import MinMaxScaler, OneHotEncoder, StandardScaler
from airflow_provider_powerfl.algorithms.feature_engineering.selection import HeteroIVSelector, StatisticSelector, select_by_iv
from airflow_provider_powerfl.algorithms.feature_engineering.statistics import feature_statistics
from airflow_provider_powerfl.algorithms.feature_engineering.woe import woe_iv

__all__ = [
    "Binner",
    "FeaturePipeline",
    "HeteroFeatureBinning",
    "HeteroIVSelector",
    "MinMaxScaler",
    "OneHotEncoder",
    "StandardScaler",
    "StatisticSelector",
    "feature_statistics",
    "select_by_iv",
    "woe_iv",
]
