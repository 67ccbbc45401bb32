"""The run nonce every party's run of one job shares: from the conf, or drawn by the initiator's invite task."""

from __future__ import annotations

from typing import Any

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.jobs.pipeline import INVITE_TASK
from airflow_provider_powerfl.jobs.spec import parse_nonce

NONCE_XCOM = "powerfl_nonce"  # the XCom key of the nonce an initiator's invite task draws when the conf has none


def run_nonce(context: Any) -> str:
    """The run's nonce: the conf's (an invited run's, or the start path's), else the one this run's invite task drew."""
    nonce = (context["dag_run"].conf or {}).get("nonce") or context["ti"].xcom_pull(task_ids=INVITE_TASK, key=NONCE_XCOM)
    if not nonce:
        raise ConfigError(
            f"dag_run.conf.nonce: missing, and no {INVITE_TASK!r} task of this run drew one; every party's run of one "
            "job needs the same random nonce (e.g. python -c 'import secrets; print(secrets.token_hex(16))')"
        )
    return parse_nonce(nonce, "dag_run.conf.nonce")
