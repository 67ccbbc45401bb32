"""The job DSL: a pipeline YAML (tasks with component, parameters and dependencies) becomes a DAG.

::

    dag_id: powerfl_pipeline_hetero_lr
    description: Two-party hetero LR
    parties: ["10000=guest", "20000=host"]      # default of the job conf
    defaults: {spark: {conf: {spark.ui.enabled: "false"}}}
    tasks:
      align:   {component: align}
      train:   {component: train, parameters: {algorithm: hetero_lr}, inputs_from: [align]}
      predict: {component: predict, inputs_from: [align, train]}
      peers_predicted: {component: wait_peers, parameters: {peer_task: predict}, depends_on: [predict]}
      summary: {component: summary, parameters: {train_task: train, predict_task: predict}, depends_on: [peers_predicted]}

Every DAG starts with ``invite`` (the initiating party invites the others),
runs every step under a job guard and ends the job at every party when a
task fails for good. ``inputs_from`` implies ``depends_on``.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PrivateAttr,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from airflow_provider_powerfl.config_file import load_config_file
from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.jobs.params import STEPS, validate_step_params
from airflow_provider_powerfl.validation import Contract, Text, field_error, parse

STEP_COMPONENTS = ("align", "train", "predict", "feature_engineering", "step", "enclave")
Component = Literal["align", "train", "predict", "feature_engineering", "step", "enclave", "wait_peers", "summary"]
COMPONENTS = get_args(Component)
INVITE_TASK = "invite"
_MAX_SECONDS = timedelta.max.days * 86400  # Airflow makes a timedelta of every duration


def _empty_if_none(empty: Any) -> BeforeValidator:
    """A key written without a value (``parameters:`` in YAML) is the empty one."""
    return BeforeValidator(lambda value: empty if value is None else value)


def _one_or_more(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _not_reserved(task_id: str) -> str:
    if task_id == INVITE_TASK:
        raise ValueError("reserved (every pipeline starts with it)")
    return task_id


def _dag_id(value: str) -> str:
    if not value.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise ValueError(f"expected letters, digits, '_', '-', '.', got {value!r}")
    return value


Seconds = Annotated[StrictFloat, Field(ge=0, le=_MAX_SECONDS, allow_inf_nan=False)]
KeyValues = Annotated[dict[StrictStr, Any], _empty_if_none({})]
TaskIds = Annotated[tuple[StrictStr, ...], BeforeValidator(_one_or_more), _empty_if_none(())]  # one id or a list


class TaskDefaults(Contract):
    """What every task of the pipeline gets unless it says otherwise (``spark`` merges by key)."""

    spark: KeyValues = {}
    retries: Annotated[StrictInt, Field(ge=0)] = 0
    timeout: Seconds | None = None
    retry_delay: Seconds | None = None  # None: Airflow's default (300 s)


class TaskDef(TaskDefaults):
    """One task of a pipeline; ``task_id`` is its key in the file's ``tasks``."""

    component: Component
    step: Text | None = None  # component 'step': the spark_jobs entry point
    parameters: KeyValues = {}
    depends_on: TaskIds = ()
    inputs_from: TaskIds = ()  # the upstream tasks whose outputs are this step's inputs (implies depends_on)
    _task_id: str = PrivateAttr("")

    @property
    def task_id(self) -> str:
        return self._task_id

    @model_validator(mode="after")
    def _names_its_step(self) -> TaskDef:
        if self.component == "step" and self.step is None:
            raise field_error("step", "component 'step' needs the spark_jobs entry point name")
        return self

    def named(self, task_id: str, defaults: TaskDefaults) -> TaskDef:
        """This task as the DAG gets it: called ``task_id``, with the defaults it does not set itself."""
        update = {name: getattr(defaults, name) for name in defaults.model_fields_set - self.model_fields_set}
        task = self.model_copy(update={**update, "spark": {**defaults.spark, **self.spark}})
        task._task_id = task_id
        return task


class PipelineDef(Contract):
    """A pipeline file: the DAG's id and description, the job conf's default parties, and the tasks."""

    dag_id: Annotated[StrictStr, AfterValidator(_dag_id)]
    description: Annotated[StrictStr, _empty_if_none("")] = ""
    parties: tuple[StrictStr, ...] = ("10000=guest", "20000=host")
    tags: Annotated[tuple[StrictStr, ...], _empty_if_none(())] = ()
    accept_timeout: Seconds = 120.0  # seconds the invite task waits for every party's answer
    # jobs of this pipeline a party runs at once; more wait queued, their invitations sent only when they start (so
    # an invited party never queues them behind the initiator's accept timeout): a machine's own limit
    max_active_jobs: Annotated[StrictInt, Field(ge=1)] = 16
    defaults: Annotated[TaskDefaults, _empty_if_none({})] = TaskDefaults()
    tasks_by_id: dict[Annotated[StrictStr, AfterValidator(_not_reserved)], TaskDef] = Field(alias="tasks", min_length=1)
    _source: str = PrivateAttr("")  # the file it was read from, given as the validation context's "source"

    def model_post_init(self, context: Any, /) -> None:
        self._source = (context or {}).get("source", "")

    @property
    def source(self) -> str:
        return self._source

    @property
    def tasks(self) -> tuple[TaskDef, ...]:
        """The tasks in file order."""
        return tuple(self.tasks_by_id.values())

    @field_validator("tasks_by_id")
    @classmethod
    def _named(cls, tasks: dict[str, TaskDef], info: ValidationInfo) -> dict[str, TaskDef]:
        defaults = info.data.get("defaults") or TaskDefaults()  # absent when refused: its own error is reported
        return {task_id: task.named(task_id, defaults) for task_id, task in tasks.items()}

    @model_validator(mode="after")
    def _dependencies(self) -> PipelineDef:
        """Every dependency is a task of the pipeline, and none depends on itself through others."""
        ids = set(self.tasks_by_id)
        for task in self.tasks:
            for dep in (*task.depends_on, *task.inputs_from):
                if dep not in ids:
                    raise field_error(
                        ("tasks", task.task_id), f"depends on unknown task {dep!r} (tasks: {', '.join(sorted(ids))})"
                    )
        deps = {task.task_id: set(task.depends_on) | set(task.inputs_from) for task in self.tasks}
        done: set[str] = set()
        while deps:
            ready = [task_id for task_id, needs in deps.items() if needs <= done]
            if not ready:
                raise field_error("tasks", f"tasks {sorted(deps)} depend on each other in a cycle")
            done.update(ready)
            for task_id in ready:
                del deps[task_id]
        return self

    @classmethod
    def from_dict(cls, data: Any, source: str = "pipeline") -> PipelineDef:
        """Validate a pipeline mapping, each step's parameters by its model; ConfigError names the file and the field."""
        try:
            pipeline = parse(cls, data, "", context={"source": source})
            for task in pipeline.tasks:
                step = task.step or task.component
                if task.component in STEP_COMPONENTS and step in STEPS:
                    validate_step_params(step, task.parameters, f"tasks.{task.task_id}.parameters")
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        return pipeline

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> PipelineDef:
        path = Path(path)
        return cls.from_dict(load_config_file(path, "pipeline"), str(path))


def load_pipelines(directory: str | os.PathLike[str]) -> list[PipelineDef]:
    """Every ``*.yaml`` pipeline in `directory`, sorted by file name; duplicate dag ids are refused."""
    pipelines = [PipelineDef.from_yaml(p) for p in sorted(Path(directory).glob("*.yaml"))]
    seen: dict[str, str] = {}
    for p in pipelines:
        if p.dag_id in seen:
            raise ConfigError(f"{p.source}: dag_id {p.dag_id!r} is also defined in {seen[p.dag_id]}")
        seen[p.dag_id] = p.source
    return pipelines
