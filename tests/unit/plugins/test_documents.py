"""Uploaded documents and error replies of flow-server (documents.parse_document, app.field_of)."""

from __future__ import annotations

import pytest

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.plugins.flow_server.app import field_of
from airflow_provider_powerfl.plugins.flow_server.documents import parse_document


def test_yaml_and_json_bodies_parse_to_a_mapping():
    assert parse_document(b"dag_id: p\ntasks: {}\n", "pipeline.yaml") == {"dag_id": "p", "tasks": {}}
    assert parse_document(b'{"parties": ["1=guest"]}', "job_parameters.yaml") == {"parties": ["1=guest"]}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(b"- a\n- b\n", "expected a mapping, got list"), (b"a: [1\n", "not valid YAML or JSON"), (b"\xff\xfe", "not UTF-8")],
)
def test_a_document_that_is_not_a_mapping_is_refused_naming_the_file(raw, reason):
    with pytest.raises(ConfigError, match=reason) as caught:
        parse_document(raw, "pipeline.yaml")
    assert str(caught.value).startswith("pipeline.yaml: ")


def test_the_field_of_an_error_is_the_last_dotted_path_it_names():
    assert field_of("pipeline.yaml: tasks.train.component: Input should be 'align'") == "tasks.train.component"
    assert field_of("job_parameters.yaml: parties-args.20000.input: expected a path") == "parties-args.20000.input"
    assert field_of("state: 'x' is not one of queued") == "state"
    assert field_of("pipeline.yaml: expected a mapping, got list") is None
