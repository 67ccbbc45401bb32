"""The last task of a pipeline: the job's model and metrics in one XCom value."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator

from airflow_provider_powerfl.exceptions import ConfigError


class JobSummaryOperator(BaseOperator):
    """
    The job's result for the UI and the REST API: model and metrics from the named upstream steps.

    :param train_task: task id of the training step.
    :param predict_task: task id of the prediction step.
    :param require_metrics_role: fail when this role's prediction has no metrics (the label holder's).
    """

    def __init__(self, *, train_task: str, predict_task: str, require_metrics_role: str | None = "guest", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.train_task = train_task
        self.predict_task = predict_task
        self.require_metrics_role = require_metrics_role

    def execute(self, context: Any) -> dict[str, Any]:
        trained = context["ti"].xcom_pull(task_ids=self.train_task) or {}
        predicted = context["ti"].xcom_pull(task_ids=self.predict_task) or {}
        summary = {
            "job_id": predicted.get("job_id"),
            "party_id": predicted.get("party_id"),
            "role": predicted.get("role"),
            "model": trained.get("model"),
            "train_metrics": trained.get("metrics") or {},
            "predict_metrics": predicted.get("metrics") or {},
        }
        if predicted.get("role") == self.require_metrics_role and not summary["predict_metrics"]:
            raise ConfigError(
                f"{self.predict_task} of party {predicted.get('party_id')} reported no metrics in {predicted.get('output_dir')}"
            )
        self.log.info("job summary: %s", summary)
        return summary
