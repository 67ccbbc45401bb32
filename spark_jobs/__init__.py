"""PySpark entry points each party runs with ``spark-submit``, one per federated step.

Every entry point follows one pattern (see ``common.runner``): parse
``--spec``, load the :class:`~airflow_provider_powerfl.jobs.spec.TaskSpec`,
build the Spark session, read inputs with ``common.io``, run the step and
write its outputs atomically with ``common.output``.
"""
