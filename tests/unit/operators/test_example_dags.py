from __future__ import annotations

from pathlib import Path

from airflow.dag_processing.dagbag import DagBag

DAGS = Path(__file__).resolve().parents[3] / "dags"


def test_example_dags_parse_without_any_connection():
    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    dag = bag.dags["powerfl_hetero_lr"]
    assert [t.task_id for t in dag.topological_sort()] == ["align", "train", "predict", "peers_predicted", "evaluate"]
