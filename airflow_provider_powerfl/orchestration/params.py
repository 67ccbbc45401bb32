"""The job conf's JSON schema as DAG Params: Airflow refuses a bad conf at trigger time (the REST API's 400).

The schemas of ``common-args`` and ``parties-args`` are generated from the job contract's models
(jobs.document), so a typo the operators would refuse is refused here first, naming the key.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param

from airflow_provider_powerfl.jobs.document import args_schema

PARTY_ROLE = r"^[A-Za-z0-9_.-]+=(guest|host|arbiter)$"
PARTY_ID = r"^[A-Za-z0-9_.-]+$"
JOB_ID = r"^$|^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,199}$"
NONCE = r"^$|^[0-9a-fA-F]{32}$"


def _parties_args_schema() -> dict[str, Any]:
    """parties-args: party id -> one layer of args (the same schema as common-args)."""
    args = args_schema()
    defs = {**args.pop("$defs", {}), "Args": args}
    return {
        "type": "object",
        "propertyNames": {"pattern": PARTY_ID},
        "additionalProperties": {"$ref": "#/$defs/Args"},
        "$defs": defs,
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
        "common-args": Param({}, schema=args_schema(), description="Arguments of every party; '<step>': {...} for one step"),
        "parties-args": Param(
            {}, schema=_parties_args_schema(), description="Arguments per party id: its inputs, output dirs, step parameters"
        ),
        "initiator": Param("", type="string", description="Set by the listener: the party whose invitation started this run"),
        "nonce": Param("", type="string", pattern=NONCE, description="The run's random nonce; empty: the invite task draws one"),
    }
