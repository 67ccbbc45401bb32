"""flow-server: PowerFL's REST API (pipelines, jobs, metrics) inside a party's Airflow api-server (docs/flow_server.md)."""
