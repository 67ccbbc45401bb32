"""The job conf as a typed document: what a user may write in ``common-args`` and ``parties-args``.

A layer of args holds the reserved keys (``inputs``, ``output_dir``, ``work_dir``), step parameters, and
per step (``train: {...}``) the same again for that step only. The models are generated from the step
parameter models (jobs.params), so the REST API's schema (the DAG's Params), ``powerfl job validate``
and the operators refuse the same typos. Values are typed as the step models type them; how parameters
fit together (``batch_size >= min_batch_size``) is checked on each step's merged parameters.
"""

from __future__ import annotations

from typing import Any, Literal, Union, get_args, get_origin

from pydantic import Field, StrictStr, create_model
from pydantic.fields import FieldInfo

from airflow_provider_powerfl.jobs.params import STEP_MODELS, STEPS, step_keys
from airflow_provider_powerfl.jobs.spec import FORMATS, DataSpec
from airflow_provider_powerfl.validation import Contract

RESERVED = ("inputs", "output_dir", "work_dir")


def _param_fields(names: frozenset[str]) -> dict[str, tuple[Any, FieldInfo]]:
    """The step models' fields called ``names`` as optional keys of a conf layer, unset by default.

    A field of one model keeps its type and bounds; one that models type differently (``algorithm``,
    ``objective``) takes any of their types.
    """
    found: dict[str, list[FieldInfo]] = {}
    for step in STEPS:
        for model in STEP_MODELS[step]:
            for name, info in model.model_fields.items():
                if name in names and name not in RESERVED:
                    found.setdefault(name, []).append(info)
    fields: dict[str, tuple[Any, FieldInfo]] = {}
    for name, infos in sorted(found.items()):
        types = list(dict.fromkeys(info.annotation for info in infos))
        if len(types) == 1:
            fields[name] = (types[0] | None, FieldInfo.merge_field_infos(infos[0], default=None))
        elif all(get_origin(t) is Literal for t in types):  # algorithm: any trainer's name
            fields[name] = (Literal[tuple(v for t in types for v in get_args(t))] | None, FieldInfo(default=None))
        else:
            fields[name] = (Union[(*types, None)], FieldInfo(default=None))
    return fields


DataSpecKeys = create_model(
    "DataSpecKeys",
    __base__=Contract,
    **{name: (Any, None) for name in DataSpec.model_fields if name not in ("uri", "format")},
    uri=(StrictStr | None, None),
    format=(Literal[FORMATS] | None, None),
)
_RESERVED_FIELDS: dict[str, Any] = {
    "inputs": (dict[StrictStr, DataSpecKeys] | None, Field(None, description="input name -> data spec (merged by key)")),
    "output_dir": (StrictStr | None, Field(None, description="this step's output directory (path or URI)")),
    "work_dir": (StrictStr | None, Field(None, description="root of the default output directories")),
}
STEP_ARGS = {
    step: create_model(
        f"{step.title().replace('_', '')}Args", __base__=Contract, **_RESERVED_FIELDS, **_param_fields(step_keys(step))
    )
    for step in STEPS
}
ARGS = create_model(
    "Args",
    __base__=Contract,
    **_RESERVED_FIELDS,
    **_param_fields(frozenset().union(*(step_keys(step) for step in STEPS))),
    **{step: (STEP_ARGS[step] | None, Field(None, description=f"args of the {step} step only")) for step in STEPS},
)


class JobConfDocument(Contract):
    """A DAG run's conf as written: PowerFL's job parameters (and the listener's and start path's fields)."""

    job_id: StrictStr | None = Field(None, description="same at every party; empty: the run id")
    parties: list[StrictStr] | StrictStr = Field(description="PowerFL's '<party id>=<role>' items")
    common_args: ARGS | None = Field(None, alias="common-args", description="args of every party")
    parties_args: dict[StrictStr, ARGS] | None = Field(None, alias="parties-args", description="args per party id")
    initiator: StrictStr | None = Field(None, description="set by the listener: the party whose invitation started the run")
    kubernetes: dict[StrictStr, Any] | None = Field(None, description="pod settings overriding the operator's")
    nonce: StrictStr | None = Field(None, description="the run's random nonce; empty: the invite task draws one")


CONF_FIELDS = tuple(info.alias or name for name, info in JobConfDocument.model_fields.items())


def args_schema() -> dict[str, Any]:
    """The JSON schema of one layer of args (a DAG Param's: Airflow refuses a run whose conf breaks it)."""
    return ARGS.model_json_schema()
