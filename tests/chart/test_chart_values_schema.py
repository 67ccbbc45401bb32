"""values.schema.json: closed, described, satisfied by values.yaml and its own examples, and refusing bad values."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.chart.render import CHART

SCHEMA = json.loads((CHART / "values.schema.json").read_text())
DEFAULTS = yaml.safe_load((CHART / "values.yaml").read_text())
VALID = {"party": {"id": "10000"}, "domain": "fl.bank.example"}  # what deploy.sh always sets


def properties(node: dict, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], dict]]:
    """Every property of the schema with its path (``*`` for a free-form map's values)."""
    for name, child in node.get("properties", {}).items():
        yield (*path, name), child
        yield from properties(child, (*path, name))
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        yield from properties(extra, (*path, "*"))


def validate(values: dict) -> None:
    jsonschema.Draft7Validator(SCHEMA).validate(values)


def with_value(path: tuple[str, ...], value: Any) -> dict:
    values = copy.deepcopy(DEFAULTS) | copy.deepcopy(VALID)
    node = values
    for key in path[:-1]:
        node = node.setdefault("20000" if key == "*" else key, {})
    node["20000" if path[-1] == "*" else path[-1]] = value
    return values


def test_the_schema_is_draft_7_closed_and_described() -> None:
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    assert SCHEMA["additionalProperties"] is False
    for path, node in properties(SCHEMA):
        if path[-1] != "*":
            assert node.get("description"), f"{'.'.join(path)} has no description"
        if node.get("type") == "object" and "properties" in node:
            assert node.get("additionalProperties") is False, f"{'.'.join(path)} is open"


def test_values_yaml_passes_with_what_deploy_sh_sets() -> None:
    validate(copy.deepcopy(DEFAULTS) | VALID)


EXAMPLES = [(path, example) for path, node in properties(SCHEMA) for example in node.get("examples", [])]


@pytest.mark.parametrize(("path", "example"), EXAMPLES, ids=[".".join(path) for path, _ in EXAMPLES])
def test_every_example_is_valid_where_it_stands(path: tuple[str, ...], example: Any) -> None:
    validate(with_value(path, example))


BAD = [
    (("colour",), "blue"),  # an unknown top-level key
    (("kafka", "external", "port"), 9093),  # an unknown nested key (it is containerPort)
    (("party", "id"), "Party 1"),
    (("party", "role"), "leader"),
    (("domain", "x"), "y"),
    (("kafka", "external", "nodePort"), 9093),
    (("kafka", "internal", "port"), "9092"),
    (("airflow", "executor"), "CeleryExecutor"),
    (("components", "kafka", "enabled"), "no"),
    (("components", "mysql"), {"enabled": False}),
    (("parties", "20000", "bootstrapServers"), "fl.partner.example"),
    (("parties", "20000", "password"), "x"),
    (("kafka", "persistence", "size"), 10),
]


@pytest.mark.parametrize(("path", "value"), BAD, ids=[".".join(path) for path, _ in BAD])
def test_bad_values_are_refused(path: tuple[str, ...], value: Any) -> None:
    values = copy.deepcopy(DEFAULTS) | copy.deepcopy(VALID)
    node = values
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        validate(values)


def test_helm_checks_the_schema_and_names_the_value(helm: Path) -> None:
    """The chart's own guard: helm refuses a misspelt value before rendering anything."""
    import subprocess

    done = subprocess.run(
        [helm, "template", "powerfl", CHART, "--set", "party.id=10000,domain=fl.bank.example,kafka.external.nodeport=30091"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0 and "nodeport" in done.stderr, done.stderr
