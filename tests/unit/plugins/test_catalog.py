"""The component catalog: schemas generated from the job contract, described, and a pipeline drawn from it valid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from airflow_provider_powerfl.jobs.params import HeteroLRTrain, validate_step_params
from airflow_provider_powerfl.jobs.pipeline import PipelineDef
from airflow_provider_powerfl.plugins.flow_server.catalog import components, parameters_schema

PIPELINE = Path(__file__).parents[3] / "dags" / "pipelines" / "hetero_lr.yaml"


def by_id() -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in components()}


def test_every_runnable_step_is_in_the_catalog_with_its_ports() -> None:
    catalog = by_id()
    assert {
        "align",
        "feature_engineering",
        "hetero_lr",
        "secureboost",
        "hetero_nn",
        "predict",
        "evaluate",
        "wait_peers",
        "summary",
    } <= set(catalog)
    assert [p["kind"] for p in catalog["predict"]["inputs"]] == ["data", "model"]
    assert [p["kind"] for p in catalog["hetero_lr"]["outputs"]] == ["model"]
    assert catalog["hetero_lr"]["task"] == {"component": "train", "parameters": {"algorithm": "hetero_lr"}}


def test_the_schema_is_the_contracts_with_defaults_and_descriptions() -> None:
    schema = by_id()["hetero_lr"]["parameters"]
    assert schema["properties"].keys() == HeteroLRTrain.model_json_schema()["properties"].keys()
    assert schema["additionalProperties"] is False
    max_iter = schema["properties"]["max_iter"]
    assert (max_iter["default"], max_iter["minimum"], max_iter["type"]) == (10, 1, "integer")
    assert max_iter["description"].startswith("epochs at most")  # the estimator's :param entry
    assert schema["properties"]["timeout"]["description"] == "seconds to wait for one message of a peer"  # a comment
    assert all("description" in p for p in by_id()["wait_peers"]["parameters"]["properties"].values())


@pytest.mark.parametrize(
    ("params", "valid"),
    [({"max_iter": 3, "learning_rate": 0.1}, True), ({"max_iter": 0}, False), ({"max_iter": "3"}, False),
     ({"optimizer": "rmsprop"}, False), ({"unknown": 1}, False)],
)  # fmt: skip
def test_the_schema_refuses_what_the_contract_refuses(params: dict[str, Any], valid: bool) -> None:
    schema = parameters_schema(HeteroLRTrain)
    assert jsonschema.Draft202012Validator(schema).is_valid(params) is valid
    if valid:
        validate_step_params("train", params)


def test_the_two_party_hetero_lr_pipeline_is_drawn_from_catalog_components_only() -> None:
    """Each task of the shipped pipeline is one catalog component, its parameters valid by the component's schema."""
    definition = yaml.safe_load(PIPELINE.read_text())
    catalog = by_id()
    for task_id, task in definition["tasks"].items():
        params = task.get("parameters") or {}
        matches = [
            c for c in catalog.values()
            if c["task"]["component"] == task["component"] and c["task"].get("parameters", {}).items() <= params.items()
        ]  # fmt: skip
        assert matches, task_id
        jsonschema.Draft202012Validator(matches[0]["parameters"]).validate(params)
    PipelineDef.from_dict(definition)
