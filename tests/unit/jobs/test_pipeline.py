from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.jobs.pipeline import PipelineDef, load_pipelines

REPO = Path(__file__).resolve().parents[3]


def test_the_shipped_pipelines_load():
    pipelines = {p.dag_id: p for p in load_pipelines(REPO / "dags" / "pipelines")}
    assert set(pipelines) == {"powerfl_pipeline_hetero_lr", "powerfl_pipeline_tee_lr"}
    assert [t.component for t in pipelines["powerfl_pipeline_tee_lr"].tasks] == ["align", "enclave", "wait_peers"]
    pipeline = pipelines["powerfl_pipeline_hetero_lr"]
    assert [t.task_id for t in pipeline.tasks] == ["align", "train", "predict", "peers_predicted", "summary"]
    assert pipeline.tasks[1].spark["conf"]["spark.ui.enabled"] == "false"  # defaults reach every task


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"dag_id": "p", "tasks": {"a": {"component": "nope"}}}, r"tasks\.a\.component: Input should be 'align', 'train'"),
        (
            {"dag_id": "p", "tasks": {"a": {"component": "align", "depends": ["b"]}}},
            r"tasks\.a\.depends: unknown key \(did you mean 'depends_on'\?\)",
        ),
        ({"dag_id": "p", "tasks": {"a": {"component": "train", "inputs_from": ["zz"]}}}, "depends on unknown task 'zz'"),
        (
            {
                "dag_id": "p",
                "tasks": {"a": {"component": "align", "depends_on": ["b"]}, "b": {"component": "align", "depends_on": ["a"]}},
            },
            "cycle",
        ),
        ({"dag_id": "p", "tasks": {"invite": {"component": "align"}}}, "reserved"),
        ({"dag_id": "p p", "tasks": {"a": {"component": "align"}}}, "dag_id"),
        ({"dag_id": "p", "tasks": {"a": {"component": "step"}}}, r"tasks.a.step"),
    ],
)
def test_a_bad_pipeline_names_the_field(data, message):
    with pytest.raises(ConfigError, match=message):
        PipelineDef.from_dict(data, "x.yaml")
