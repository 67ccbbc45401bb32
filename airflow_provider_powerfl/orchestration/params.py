"""The job conf's JSON schema as DAG Params: Airflow refuses a bad conf at trigger time, naming the param."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param

from airflow_provider_powerfl.jobs.conf import STEPS

PARTY_ROLE = r"^[A-Za-z0-9_.-]+=(guest|host|arbiter)$"
PARTY_ID = r"^[A-Za-z0-9_.-]+$"
JOB_ID = r"^$|^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,199}$"
NONCE = r"^$|^[0-9a-fA-F]{32}$"

_DATA = {
    "type": "object",
    "properties": {
        "uri": {"type": "string", "minLength": 1},
        "format": {"type": "string", "enum": ["csv", "parquet", "libsvm", "json", "orc"]},
        "id_column": {"type": "string"},
        "label_column": {"type": "string"},
    },
}
_STEP_ARGS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "inputs": {"type": "object", "additionalProperties": _DATA},
        "output_dir": {"type": "string"},
        "work_dir": {"type": "string"},
    },
}
# one layer: step parameters plus the reserved keys, and per step the same again
ARGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {**_STEP_ARGS["properties"], **{step: _STEP_ARGS for step in STEPS}},
}


def job_params(default_parties: list[str] | None = None) -> dict[str, Param]:
    """Params of a pipeline DAG: the PowerFL job conf fields with their schema."""
    return {
        "job_id": Param("", type="string", pattern=JOB_ID, description="Same at every party; empty: the run id"),
        "parties": Param(
            default_parties or ["10000=guest", "20000=host"],
            type="array",
            minItems=2,
            items={"type": "string", "pattern": PARTY_ROLE},
            description="PowerFL's '<party id>=<role>' items",
        ),
        "common-args": Param({}, schema=ARGS_SCHEMA, description="Arguments of every party; '<step>': {...} for one step"),
        "parties-args": Param(
            {},
            type="object",
            propertyNames={"pattern": PARTY_ID},
            additionalProperties=ARGS_SCHEMA,
            description="Arguments per party id: its inputs, output dirs, step parameters",
        ),
        "initiator": Param("", type="string", description="Set by the listener: the party whose invitation started this run"),
        "nonce": Param(
            "", type="string", pattern=NONCE, description="The run's random nonce; empty: the invite task draws one"
        ),
    }
