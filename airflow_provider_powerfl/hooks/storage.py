"""Object-store credentials from an Airflow connection, for the steps' ``s3a://`` inputs and outputs.

A party names an ``aws`` connection in its ``powerfl`` connection's ``aws_conn_id``: the login is the access
key id, the password the secret key, and the extra's ``aws_session_token`` and ``region_name`` are optional
(the Amazon provider's fields). The operator hands them to the step's process as the AWS SDK's environment
variables, which s3a's default credential chain reads; they are never in the task spec, the Spark conf or
the command line. On the Kubernetes runtime the pod takes the same variables from a Secret
(``kubernetes.aws_secret``), referenced in the pod spec, never as literal values.
"""

from __future__ import annotations

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from airflow_provider_powerfl.exceptions import ConfigError

AWS_CONN_TYPES = ("aws",)
# the variables a step's process gets (AWS SDK v2 names); a Kubernetes Secret holds them under the same keys
ACCESS_KEY, SECRET_KEY, SESSION_TOKEN, REGION = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
)
AWS_ENV = (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN, REGION)


def aws_environment(conn_id: str, named_by: str = "aws_conn_id") -> dict[str, str]:
    """The environment variables of the ``aws`` connection ``conn_id``; errors name the connection and the field."""
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException as exc:
        raise ConfigError(f"{named_by}: no Airflow connection {conn_id!r}") from exc

    def fail(field: str, problem: str) -> ConfigError:
        return ConfigError(f"connection {conn_id!r} field {field!r}: {problem}")

    if conn.conn_type not in AWS_CONN_TYPES:
        raise fail("conn_type", f"expected {'|'.join(AWS_CONN_TYPES)} (an object store's credentials), got {conn.conn_type!r}")
    if not conn.login:
        raise fail("login", "must be the access key id")
    if not conn.password:
        raise fail("password", "must be the secret access key")
    env = {ACCESS_KEY: conn.login, SECRET_KEY: conn.password}
    extra = conn.extra_dejson or {}
    if extra.get("aws_session_token"):
        env[SESSION_TOKEN] = str(extra["aws_session_token"])
    if extra.get("region_name"):
        env[REGION] = str(extra["region_name"])
    return env
