"""Sample alignment: private set intersection (ECDH or RSA) and the joint (hidden) query."""

from airflow_provider_powerfl.algorithms.alignment.align import AlignmentResult, align

__all__ = ["AlignmentResult", "align"]
