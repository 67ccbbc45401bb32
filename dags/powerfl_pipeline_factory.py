"""PowerFL pipelines from ``dags/pipelines/*.yaml`` (or ``$POWERFL_PIPELINES_DIR``) and this party's listener.

Every party deploys this file with the same pipeline YAMLs. A pipeline run
triggered by a user (UI, REST, ``powerfl job submit``) invites the other
parties of its job; their ``powerfl_listener`` DAG starts the same pipeline
with the same job id. ``POWERFL_ALLOWED_PARTIES`` (comma-separated party ids)
limits who may start jobs here; default: every party in the registry.
"""

from __future__ import annotations

import os
from pathlib import Path

from airflow_provider_powerfl.orchestration.factory import build_listener_dag, build_pipeline_dag
from airflow_provider_powerfl.orchestration.pipeline import load_pipelines

_DIR = Path(os.environ.get("POWERFL_PIPELINES_DIR") or Path(__file__).parent / "pipelines")
_ALLOWED = [p.strip() for p in os.environ.get("POWERFL_ALLOWED_PARTIES", "").split(",") if p.strip()] or None

_pipelines = load_pipelines(_DIR)
for _pipeline in _pipelines:
    globals()[_pipeline.dag_id] = build_pipeline_dag(_pipeline)
powerfl_listener = build_listener_dag(_pipelines, allowed_parties=_ALLOWED)
