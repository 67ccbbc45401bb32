"""PowerFL pipelines from ``dags/pipelines/*.yaml`` (or ``$POWERFL_PIPELINES_DIR``) and this party's listener.

Every party deploys this file with the same pipeline YAMLs. A pipeline run
triggered by a user (UI, REST, ``powerfl job submit``) invites the other
parties of its job; their ``powerfl_listener`` DAG starts the same pipeline
with the same job id, if this party's privacy policy (its ``powerfl``
connection, see docs/policy.md) names the initiator in ``allowed_parties``.
"""

from __future__ import annotations

import os
from pathlib import Path

from airflow_provider_powerfl.jobs.pipeline import load_pipelines
from airflow_provider_powerfl.orchestration.factory import build_listener_dag, build_pipeline_dag

_DIR = Path(os.environ.get("POWERFL_PIPELINES_DIR") or Path(__file__).parent / "pipelines")

_pipelines = load_pipelines(_DIR)
for _pipeline in _pipelines:
    globals()[_pipeline.dag_id] = build_pipeline_dag(_pipeline)
powerfl_listener = build_listener_dag(_pipelines)
