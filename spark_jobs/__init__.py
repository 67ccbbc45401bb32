"""PySpark steps each party runs with ``spark-submit spark_jobs/run.py <step>``, one module per federated step.

Every step follows one pattern (see ``common.runner``): parse
``--spec``, load the :class:`~airflow_provider_powerfl.jobs.spec.TaskSpec`,
build the Spark session, read inputs with ``common.io``, run the step and
write its outputs atomically with ``common.output``.
"""
