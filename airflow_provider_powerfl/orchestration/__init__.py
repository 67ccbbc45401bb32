"""Multi-party orchestration: the pipeline DSL and DAG factory, signed job invitations, the listener, job state and the REST client."""
