"""Pipeline YAML against any mapping and any file: it loads into values the DAG factory can use, or raises ConfigError.

A bad pipeline file must name its field when the DAG folder is parsed, not
surface later as a TypeError or an OverflowError in timedelta.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import timedelta

import pytest
from fuzzkit import fuzz, json_like, loads_or_names_file, mutated_trees, parses_or_own_error, utf8, yaml_texts
from hypothesis import example, given, strategies as st

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.jobs.pipeline import PipelineDef

pytestmark = pytest.mark.timeout(120)

GOOD = {
    "dag_id": "powerfl_pipeline_fuzz",
    "description": "fuzz seed",
    "parties": ["10000=guest", "20000=host"],
    "accept_timeout": 300,
    "tags": ["fuzz"],
    "defaults": {"spark": {"conf": {"spark.ui.enabled": "false"}}, "retries": 1, "timeout": 600},
    "tasks": {
        "align": {"component": "align"},
        "train": {"component": "train", "parameters": {"algorithm": "hetero_lr"}, "inputs_from": ["align"], "retry_delay": 5},
        "custom": {"component": "step", "step": "inspect_data", "depends_on": "align", "spark": {"conf": {}}},
        "summary": {"component": "summary", "parameters": {"train_task": "train"}, "depends_on": ["train", "custom"]},
    },
}


def _seconds_ok(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and 0 <= value < math.inf and timedelta(seconds=value) is not None)


def _loads_or_config_error(data: object) -> PipelineDef | None:
    ok, out = parses_or_own_error(PipelineDef.from_dict, data, "fuzz.yaml")
    if not ok:
        assert isinstance(out, ConfigError), f"{type(out).__name__} is not ConfigError: {out}"
        return None
    # what the DAG factory does with each field must work
    assert _seconds_ok(out.accept_timeout) and all(isinstance(tag, str) for tag in out.tags)
    for task in out.tasks:
        assert isinstance(task.retries, int) and task.retries >= 0
        assert _seconds_ok(task.timeout) and _seconds_ok(task.retry_delay)
        assert isinstance(task.spark, Mapping) and (task.step is None or isinstance(task.step, str))
    return out


def test_the_seed_pipeline_is_valid() -> None:
    assert _loads_or_config_error(GOOD) is not None


@fuzz(150)
@given(json_like)
def test_any_value_loads_or_raises_config_error(data: object) -> None:
    _loads_or_config_error(data)


def _with(task: dict | None = None, **top: object) -> dict:
    out = {**GOOD, **top}
    if task is not None:
        out["tasks"] = {**GOOD["tasks"], "align": {"component": "align", **task}}
    return out


@fuzz(100)
@given(mutated_trees(GOOD))
@example({**GOOD, 1: "x", "x": 1})  # unknown field names of two types: sorted() raised TypeError
@example(_with(accept_timeout="soon"))  # float() raised ValueError
@example(_with(accept_timeout=[1]))  # and TypeError
@example(_with(accept_timeout=math.nan))  # and timedelta() later ValueError
@example(_with(tags=7))  # iterating an int: TypeError
@example(_with({"retries": "x"}))  # int() raised ValueError
@example(_with({"retries": math.inf}))  # and OverflowError
@example(_with({"timeout": math.inf}))  # timedelta(seconds=inf) raised OverflowError in the factory
@example(_with({"spark": ["x"]}))  # {**list}: TypeError
@example(_with(defaults={"spark": 1}))
@example(_with({"component": "step", "step": 5}))
def test_a_mutated_pipeline_loads_or_raises_config_error(data: object) -> None:
    _loads_or_config_error(data)


_texts = yaml_texts(GOOD, "dag_id: 2001-02-30", "dag_id: !!bool maybe", "&a [*a]", "tasks: {a: !!float x}")


@fuzz(60)
@given(_texts.map(utf8) | st.binary(max_size=100))
@example(b"dag_id: 2001-02-30")  # PyYAML's timestamp constructor raised ValueError
@example(b"dag_id: !!bool maybe")  # and its bool constructor KeyError
@example(b"[" * 600 + b"]" * 600)  # and its composer RecursionError
@example(b"dag_id: \xff")  # not UTF-8: UnicodeDecodeError
def test_any_pipeline_file_loads_or_raises_config_error_naming_it(raw: bytes) -> None:
    loads_or_names_file(PipelineDef.from_yaml, raw, "pipeline.yaml")
