"""PowerFL federated learning provider for Apache Airflow."""

__version__ = "0.1.0"
