"""Two-party hetero logistic regression: align, train, predict, evaluate.

One DAG for every party: each organisation deploys this same file; its
``powerfl_default`` connection says which party it is, and the run's job conf
says who plays which role. Trigger it at every party with the same conf
(the same ``job_id``), for example::

    airflow dags trigger powerfl_hetero_lr --conf '{
      "job_id": "credit-2024-06",
      "parties": ["10000=guest", "20000=host"],
      "common-args": {"work_dir": "/data/powerfl", "train": {"max_iter": 10, "learning_rate": 1.0}},
      "parties-args": {
        "10000": {"align": {"inputs": {"data": {"uri": "/data/guest.csv", "format": "csv", "label_column": "y"}}}},
        "20000": {"align": {"inputs": {"data": {"uri": "/data/host.csv", "format": "csv"}}}}
      }}'
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_powerfl.operators import FederatedAlignOperator, FederatedPredictOperator, FederatedTrainOperator
from airflow_provider_powerfl.sensors.peer import FederatedPeerSensor

with DAG(
    dag_id="powerfl_hetero_lr",
    schedule=None,
    tags=["powerfl", "federated"],
    doc_md=__doc__,
    params={
        "job_id": Param("", type="string", description="Same at every party; empty: the run id"),
        "parties": Param(["10000=guest", "20000=host"], type="array", description="'<party id>=<role>' items"),
        "common-args": Param({}, type="object", description="Arguments of every party; '<step>': {...} for one step"),
        "parties-args": Param({}, type="object", description="Arguments per party id, e.g. its inputs"),
    },
) as dag:
    align = FederatedAlignOperator(task_id="align")
    train = FederatedTrainOperator(task_id="train", algorithm="hetero_lr", inputs_from=["align"])
    predict = FederatedPredictOperator(task_id="predict", inputs_from=["align", "train"])
    # predict's metrics are final only once every party has finished its side
    peers_done = FederatedPeerSensor(task_id="peers_predicted", peer_task="predict", deferrable=True, timeout=3600)

    @task
    def evaluate(trained: dict[str, Any], predicted: dict[str, Any]) -> dict[str, Any]:
        """Summarise the job for the UI; only the guest (the label holder) has AUC and KS."""
        summary = {
            "job_id": predicted["job_id"],
            "party_id": predicted["party_id"],
            "role": predicted["role"],
            "model": trained.get("model"),
            "train_metrics": trained.get("metrics") or {},
            "predict_metrics": predicted.get("metrics") or {},
        }
        if predicted["role"] == "guest" and not summary["predict_metrics"]:
            raise ValueError(f"guest {predicted['party_id']}: predict reported no metrics in {predicted['output_dir']}")
        return summary

    align >> train >> predict >> peers_done >> evaluate(train.output, predict.output)
