from __future__ import annotations

import importlib
import inspect
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import airflow
import jsonschema

import airflow_provider_powerfl
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
    listed = subprocess.run([airflow_cli, "providers", "list", "-o", "json"], env=env, capture_output=True, text=True, check=True)
    packages = {p["package_name"]: p for p in json.loads(listed.stdout)}
    assert packages["airflow-provider-powerfl"]["version"] == "0.1.0"
    hooks = subprocess.run([airflow_cli, "providers", "hooks", "-o", "json"], env=env, capture_output=True, text=True, check=True)
    by_type = {h["connection_type"]: h for h in json.loads(hooks.stdout)}
    assert by_type["powerfl"]["class"] == "airflow_provider_powerfl.hooks.party.PowerFLPartyHook"


def _defined_classes(module_name: str, base: type) -> set[str]:
    module = importlib.import_module(module_name)
    return {
        f"{module_name}.{name}"
        for name, obj in vars(module).items()
        if inspect.isclass(obj) and obj.__module__ == module_name and issubclass(obj, base) and obj is not base
    }


def _package_modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages(airflow_provider_powerfl.__path__, "airflow_provider_powerfl.") if not m.ispkg]


def _bases() -> dict[str, type]:
    from airflow.sdk import BaseHook, BaseOperator, BaseSensorOperator
    from airflow.triggers.base import BaseTrigger

    return {"operators": BaseOperator, "sensors": BaseSensorOperator, "triggers": BaseTrigger, "hooks": BaseHook}


def test_every_listed_module_imports_and_every_operator_sensor_trigger_and_hook_is_listed():
    info = get_provider_info()
    bases = _bases()
    listed = {section: {m for entry in info.get(section, []) for m in entry["python-modules"]} for section in bases}
    for section, modules in listed.items():
        for module_name in modules:
            assert _defined_classes(module_name, bases[section]), f"{section}: {module_name} defines no {bases[section].__name__}"
    unlisted = []
    for module_name in _package_modules():
        for section, base in bases.items():
            if section == "operators" and module_name in listed["sensors"]:
                continue  # a sensor is an operator too; it is listed under sensors
            if _defined_classes(module_name, base) and module_name not in listed[section]:
                unlisted.append(f"{section}: {module_name}")
    assert not unlisted, f"not in provider.yaml: {unlisted}"


def test_every_listed_plugin_and_connection_type_imports():
    info = get_provider_info()
    classes = [p["plugin-class"] for p in info.get("plugins", [])] + [c["hook-class-name"] for c in info["connection-types"]]
    for dotted in classes:
        module_name, _, name = dotted.rpartition(".")
        assert inspect.isclass(getattr(importlib.import_module(module_name), name)), dotted
