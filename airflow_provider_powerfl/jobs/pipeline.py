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
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow_provider_powerfl.config_file import load_config_file
from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.jobs.params import STEPS, validate_step_params

STEP_COMPONENTS = ("align", "train", "predict", "feature_engineering", "step")
COMPONENTS = (*STEP_COMPONENTS, "wait_peers", "summary")
_TASK_FIELDS = {"component", "parameters", "depends_on", "inputs_from", "step", "spark", "retries", "retry_delay", "timeout"}
_PIPELINE_FIELDS = {"dag_id", "description", "parties", "defaults", "tasks", "tags", "accept_timeout"}
INVITE_TASK = "invite"
_MAX_SECONDS = timedelta.max.days * 86400  # Airflow makes a timedelta of every duration


@dataclass(frozen=True)
class TaskDef:
    task_id: str
    component: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    inputs_from: tuple[str, ...] = ()
    step: str | None = None
    spark: Mapping[str, Any] = field(default_factory=dict)
    retries: int = 0
    timeout: float | None = None
    retry_delay: float | None = None  # seconds; None: Airflow's default (300 s)


@dataclass(frozen=True)
class PipelineDef:
    dag_id: str
    tasks: tuple[TaskDef, ...]
    description: str = ""
    parties: tuple[str, ...] = ("10000=guest", "20000=host")
    tags: tuple[str, ...] = ()
    accept_timeout: float = 120.0
    source: str = ""

    @classmethod
    def from_dict(cls, data: Any, source: str = "pipeline") -> PipelineDef:
        """Validate a pipeline mapping; ConfigError names the file and the field."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a mapping with dag_id and tasks")
        unknown = sorted(str(key) for key in set(data) - _PIPELINE_FIELDS)
        if unknown:
            raise ConfigError(f"{source}: unknown fields {unknown} (allowed: {sorted(_PIPELINE_FIELDS)})")
        dag_id = data.get("dag_id")
        if not isinstance(dag_id, str) or not dag_id.replace("_", "").replace("-", "").replace(".", "").isalnum():
            raise ConfigError(f"{source}: dag_id: expected letters, digits, '_', '-', '.', got {dag_id!r}")
        raw_tasks = data.get("tasks")
        if not isinstance(raw_tasks, Mapping) or not raw_tasks:
            raise ConfigError(f"{source}: tasks: expected a non-empty mapping of task id -> task")
        defaults = data.get("defaults") or {}
        if not isinstance(defaults, Mapping):
            raise ConfigError(f"{source}: defaults: expected a mapping")
        if not isinstance(defaults.get("spark") or {}, Mapping):
            raise ConfigError(f"{source}: defaults.spark: expected a mapping")
        tasks = tuple(_task(str(tid), raw, defaults, f"{source}: tasks.{tid}") for tid, raw in raw_tasks.items())
        ids = {t.task_id for t in tasks}
        if INVITE_TASK in ids:
            raise ConfigError(f"{source}: tasks.{INVITE_TASK}: reserved (every pipeline starts with it)")
        for t in tasks:
            for dep in (*t.depends_on, *t.inputs_from):
                if dep not in ids:
                    raise ConfigError(f"{source}: tasks.{t.task_id}: depends on unknown task {dep!r} (tasks: {', '.join(sorted(ids))})")
        _check_acyclic(tasks, source)
        parties = data.get("parties", cls.parties)
        if not isinstance(parties, (list, tuple)) or not all(isinstance(p, str) for p in parties):
            raise ConfigError(f"{source}: parties: expected a list like ['10000=guest', '20000=host']")
        tags = data.get("tags") or ()
        if not isinstance(tags, (list, tuple)):
            raise ConfigError(f"{source}: tags: expected a list of strings, got {tags!r}")
        return cls(
            dag_id=dag_id,
            tasks=tasks,
            description=str(data.get("description") or ""),
            parties=tuple(parties),
            tags=tuple(str(t) for t in tags),
            accept_timeout=_seconds(data.get("accept_timeout", cls.accept_timeout), f"{source}: accept_timeout"),
            source=source,
        )

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> PipelineDef:
        path = Path(path)
        return cls.from_dict(load_config_file(path, "pipeline"), str(path))


def _task(task_id: str, raw: Any, defaults: Mapping[str, Any], where: str) -> TaskDef:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping with a component")
    unknown = sorted(str(key) for key in set(raw) - _TASK_FIELDS)
    if unknown:
        raise ConfigError(f"{where}: unknown fields {unknown} (allowed: {sorted(_TASK_FIELDS)})")
    component = raw.get("component")
    if component not in COMPONENTS:
        raise ConfigError(f"{where}.component: expected one of {', '.join(COMPONENTS)}, got {component!r}")
    if component == "step" and not raw.get("step"):
        raise ConfigError(f"{where}.step: component 'step' needs the spark_jobs entry point name")
    if not isinstance(raw.get("step"), (str, type(None))):
        raise ConfigError(f"{where}.step: expected a spark_jobs entry point name, got {raw['step']!r}")
    params = raw.get("parameters") or {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"{where}.parameters: expected a mapping")
    step = raw.get("step") or component
    if component in STEP_COMPONENTS and step in STEPS:
        validate_step_params(step, params, f"{where}.parameters")

    def names(key: str) -> tuple[str, ...]:
        value = raw.get(key) or ()
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}.{key}: expected a list of task ids")
        return tuple(str(v) for v in value)

    own_spark = raw.get("spark") or {}
    if not isinstance(own_spark, Mapping):
        raise ConfigError(f"{where}.spark: expected a mapping")
    spark = {**(defaults.get("spark") or {}), **own_spark}
    retries = raw.get("retries", defaults.get("retries", 0))
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigError(f"{where}.retries: expected a whole number >= 0, got {retries!r}")
    timeout = raw.get("timeout", defaults.get("timeout"))
    retry_delay = raw.get("retry_delay", defaults.get("retry_delay"))
    return TaskDef(
        task_id, component, dict(params), names("depends_on"), names("inputs_from"), raw.get("step"), spark, retries,
        None if timeout is None else _seconds(timeout, f"{where}.timeout"),
        None if retry_delay is None else _seconds(retry_delay, f"{where}.retry_delay"),
    )  # fmt: skip


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= _MAX_SECONDS:  # NaN too
        raise ConfigError(f"{where}: expected a number of seconds >= 0, got {value!r}")
    return float(value)


def _check_acyclic(tasks: tuple[TaskDef, ...], source: str) -> None:
    deps = {t.task_id: set(t.depends_on) | set(t.inputs_from) for t in tasks}
    done: set[str] = set()
    while deps:
        ready = [t for t, d in deps.items() if d <= done]
        if not ready:
            raise ConfigError(f"{source}: tasks {sorted(deps)} depend on each other in a cycle")
        for t in ready:
            done.add(t)
            del deps[t]


def load_pipelines(directory: str | os.PathLike[str]) -> list[PipelineDef]:
    """Every ``*.yaml`` pipeline in `directory`, sorted by file name; duplicate dag ids are refused."""
    pipelines = [PipelineDef.from_yaml(p) for p in sorted(Path(directory).glob("*.yaml"))]
    seen: dict[str, str] = {}
    for p in pipelines:
        if p.dag_id in seen:
            raise ConfigError(f"{p.source}: dag_id {p.dag_id!r} is also defined in {seen[p.dag_id]}")
        seen[p.dag_id] = p.source
    return pipelines
