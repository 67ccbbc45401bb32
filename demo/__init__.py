"""``make demo``: two parties, each with its own Kafka and Airflow, run a hetero-LR job started through REST."""
