"""The component catalog: every step a pipeline can hold, its ports and its parameters' JSON Schema.

The schemas are the job contract's own models (jobs/params.py) through pydantic's ``model_json_schema``,
so the workspace's forms check what ``POST /pipelines`` checks. Descriptions come from the contract too:
a field's ``description``, else its trailing comment in the model's source, else the ``:param`` entry of
the class that documents it (the estimator). Ports say what a task's edge means in the pipeline YAML:
``inputs_from`` (an upstream step's outputs become inputs), ``depends_on`` (order only), and ``parameter``
(the upstream task's id is written into that parameter, e.g. summary's ``train_task``).
"""

from __future__ import annotations

import functools
import inspect
import io
import re
import tokenize
from typing import Any, Literal, get_args

from fastapi import APIRouter
from pydantic import BaseModel, Field, StrictBool, StrictStr

from airflow_provider_powerfl.algorithms.feature_engineering.pipeline import FeaturePipeline
from airflow_provider_powerfl.algorithms.hetero_lr.estimator import HeteroLogisticRegression
from airflow_provider_powerfl.algorithms.hetero_nn.estimator import HeteroNN
from airflow_provider_powerfl.algorithms.secureboost.estimator import HeteroSecureBoost
from airflow_provider_powerfl.jobs.params import (
    AlignParams,
    EnclaveParams,
    FeatureEngineeringParams,
    HeteroLRTrain,
    HeteroNNTrain,
    InspectDataParams,
    PredictParams,
    SecureBoostTrain,
    StepParams,
)
from airflow_provider_powerfl.plugins.flow_server.auth import User
from airflow_provider_powerfl.validation import Contract

router = APIRouter()

Kind = Literal["data", "model", "predictions", "report", "done"]


class WaitPeersParams(Contract):
    """What the factory's ``wait_peers`` task takes (orchestration/factory.py, JobPeerSensor)."""

    peer_task: StrictStr | None = None  # the task every peer must have finished (default: this task's id)
    status: Literal["success", "failed", "running"] = "success"  # the state to wait for
    timeout: float = Field(3600.0, gt=0)  # seconds to wait before the task fails
    poll_interval: float = Field(1.0, gt=0)  # seconds between reads of the peers' events
    deferrable: StrictBool = True  # wait in the triggerer, not in a worker slot


class SummaryParams(Contract):
    """What the factory's ``summary`` task takes (JobSummaryOperator): the steps whose results it sums up."""

    train_task: StrictStr  # the train step whose model the summary names
    predict_task: StrictStr  # the predict step whose metrics the summary names
    require_metrics_role: StrictStr | None = "guest"  # the role that must have written metrics


def _port(name: str, kind: Kind, link: str | None = "inputs_from", parameter: str | None = None) -> dict[str, Any]:
    return {"name": name, "kind": kind, "link": link, "parameter": parameter}


_DATA_IN, _DATA_OUT = _port("data", "data"), _port("data", "data", None)
_COMPONENTS: tuple[dict[str, Any], ...] = (
    {"id": "align", "title": "Align (PSI)", "group": "data", "task": {"component": "align"}, "model": AlignParams,
     "doc": None, "inputs": [], "outputs": [_DATA_OUT]},
    {"id": "inspect_data", "title": "Inspect data", "group": "data", "task": {"component": "step", "step": "inspect_data"},
     "model": InspectDataParams, "doc": None, "inputs": [_DATA_IN], "outputs": [_port("report", "report", None)]},
    {"id": "feature_engineering", "title": "Feature engineering", "group": "features",
     "task": {"component": "feature_engineering"}, "model": FeatureEngineeringParams, "doc": FeaturePipeline,
     "inputs": [_DATA_IN], "outputs": [_DATA_OUT]},
    {"id": "hetero_lr", "title": "Hetero LR", "group": "train", "task": {"component": "train", "parameters": {"algorithm": "hetero_lr"}},
     "model": HeteroLRTrain, "doc": HeteroLogisticRegression, "inputs": [_DATA_IN], "outputs": [_port("model", "model", None)]},
    {"id": "secureboost", "title": "SecureBoost", "group": "train",
     "task": {"component": "train", "parameters": {"algorithm": "secureboost"}}, "model": SecureBoostTrain,
     "doc": HeteroSecureBoost, "inputs": [_DATA_IN], "outputs": [_port("model", "model", None)]},
    {"id": "hetero_nn", "title": "Hetero NN", "group": "train", "task": {"component": "train", "parameters": {"algorithm": "hetero_nn"}},
     "model": HeteroNNTrain, "doc": HeteroNN, "inputs": [_DATA_IN], "outputs": [_port("model", "model", None)]},
    {"id": "enclave", "title": "Enclave train (TEE)", "group": "train", "task": {"component": "enclave"},
     "model": EnclaveParams, "doc": None, "inputs": [_DATA_IN], "outputs": [_port("model", "model", None)]},
    {"id": "predict", "title": "Predict", "group": "predict", "task": {"component": "predict"}, "model": PredictParams,
     "doc": None, "inputs": [_DATA_IN, _port("model", "model")], "outputs": [_port("predictions", "predictions", None)]},
    {"id": "evaluate", "title": "Evaluate", "group": "predict", "task": {"component": "step", "step": "evaluate"},
     "model": StepParams, "doc": None, "inputs": [_port("predictions", "predictions")], "outputs": [_port("report", "report", None)]},
    {"id": "wait_peers", "title": "Wait for peers", "group": "control", "task": {"component": "wait_peers"},
     "model": WaitPeersParams, "doc": None, "inputs": [_port("after", "predictions", "depends_on", "peer_task")],
     "outputs": [_port("done", "done", None)]},
    {"id": "summary", "title": "Summary", "group": "control", "task": {"component": "summary"}, "model": SummaryParams,
     "doc": None, "inputs": [_port("model", "model", None, "train_task"), _port("predictions", "predictions", None, "predict_task"),
                             _port("after", "done", "depends_on")], "outputs": []},
)  # fmt: skip


def _comments(cls: type) -> dict[str, str]:
    """``name: ... = ...  # text`` -> {name: text}, from the class's own source."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    found: dict[str, str] = {}
    last_name: str | None = None
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NAME and token.start[1] == 4 and last_name is None:
            last_name = token.string
        elif token.type == tokenize.COMMENT and last_name is not None:
            found.setdefault(last_name, token.string.lstrip("# ").strip())
        if token.type in (tokenize.NEWLINE, tokenize.NL):
            last_name = None
    return found


def _params_doc(cls: type | None) -> dict[str, str]:
    """``:param name: text`` entries (text over its indented lines) of a class docstring."""
    doc = (inspect.getdoc(cls) or "") if cls is not None else ""
    entries = re.findall(r":param (\w+):(.*?)(?=\n\s*:param |\n\s*\n|\Z)", doc, re.S)
    return {name: " ".join(text.split()) for name, text in entries}


def _descriptions(model: type[BaseModel], doc: type | None) -> dict[str, str]:
    found = _params_doc(doc)
    for cls in reversed(model.__mro__):
        if isinstance(cls, type) and issubclass(cls, BaseModel):
            found.update(_comments(cls))
    return found


def parameters_schema(model: type[BaseModel], doc: type | None = None) -> dict[str, Any]:
    """The model's JSON Schema (validation mode), each property with the contract's description of it."""
    schema = model.model_json_schema()
    described = _descriptions(model, doc)
    for name, prop in schema.get("properties", {}).items():
        if "description" not in prop and name in described:
            prop["description"] = described[name]
    schema["description"] = inspect.getdoc(model) or ""
    return schema


@functools.cache
def components() -> list[dict[str, Any]]:
    """The catalog, as ``GET /flow-server/components`` serves it."""
    return [
        {
            **{k: v for k, v in entry.items() if k not in ("model", "doc")},
            "parameters": parameters_schema(entry["model"], entry["doc"]),
        }
        for entry in _COMPONENTS
    ]


@router.get("/components")
def list_components(_user: User) -> dict[str, Any]:
    return {"components": components(), "kinds": list(get_args(Kind))}
