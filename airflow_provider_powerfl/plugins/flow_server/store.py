"""Where this party's DAG factory reads pipeline YAMLs: ``$POWERFL_PIPELINES_DIR``, else ``<dags_folder>/pipelines``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from airflow_provider_powerfl.jobs.pipeline import PipelineDef, load_pipelines
from airflow_provider_powerfl.orchestration.workspace import default_pipelines_dir as pipelines_dir


def stored() -> dict[str, PipelineDef]:
    """The stored pipelines by id (dag_id), in file order."""
    directory = pipelines_dir()
    return {p.dag_id: p for p in load_pipelines(directory)} if directory.is_dir() else {}


def save(pipeline: PipelineDef, definition: dict[str, Any], existing: PipelineDef | None) -> Path:
    """Write the pipeline where the factory reads it: over its old file, else ``<dag_id>.yaml``; atomic."""
    path = Path(existing.source) if existing is not None else pipelines_dir() / f"{pipeline.dag_id}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(yaml.safe_dump(definition, sort_keys=False), encoding="utf-8")
    os.replace(staging, path)
    return path


def definition(pipeline: PipelineDef) -> dict[str, Any]:
    return yaml.safe_load(Path(pipeline.source).read_text(encoding="utf-8"))
