from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema

import airflow
from airflow_provider_powerfl.get_provider_info import get_provider_info


def test_provider_info_matches_airflow_schema():
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    (conn_type,) = info["connection-types"]
    assert conn_type["connection-type"] == "powerfl"
    assert {"party_id", "role", "registry_path", "private_key_path"} <= set(conn_type["conn-fields"])


def test_airflow_lists_provider_and_connection_type(tmp_path):
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    airflow_cli = Path(sys.executable).parent / "airflow"
    listed = subprocess.run(
        [airflow_cli, "providers", "list", "-o", "json"], env=env, capture_output=True, text=True, check=True
    )
    packages = {p["package_name"]: p for p in json.loads(listed.stdout)}
    assert packages["airflow-provider-powerfl"]["version"] == "0.1.0"
    hooks = subprocess.run(
        [airflow_cli, "providers", "hooks", "-o", "json"], env=env, capture_output=True, text=True, check=True
    )
    by_type = {h["connection_type"]: h for h in json.loads(hooks.stdout)}
    assert by_type["powerfl"]["class"] == "airflow_provider_powerfl.hooks.party.PowerFLPartyHook"
