"""The job contract: the conf a job is started with, the spec each party's step is given, and the step's exit contract.

Pure Python (no Airflow, no Spark): the Airflow layer builds these and the Spark jobs read them.
"""
