"""The tee runtime's spec and launch: refused before any process starts when the spec cannot work."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.runtimes.tee import enclave_checkout, host_process, write_host_spec

ARGS = {"party_id": "30000", "registry_path": "/r.yaml", "private_key_path": "/k", "job_id": "j", "attempt": 1,
        "nonce": bytes(16), "roles": {"10000": "guest", "30000": "arbiter"}, "params": {}}  # fmt: skip


def test_the_spec_names_the_job_and_the_measured_enclave(tmp_path: Path) -> None:
    measured = tmp_path / "m.json"
    measured.write_text("{}")
    spec = write_host_spec(tmp_path / "s.json", measured=str(measured), operation="train_gbdt", **ARGS)
    assert json.loads(spec.read_text())["nonce"] == "00" * 16 and spec.stat().st_mode & 0o777 == 0o600
    process = host_process(spec)
    assert process.argv == [sys.executable, "-m", "enclave.serve", str(spec)] and process.cwd == enclave_checkout()


@pytest.mark.parametrize(("operation", "measured", "match"), [("train_svm", True, "operation"), ("train_lr", False, "measured")])
def test_an_unknown_operation_or_a_missing_measurement_is_refused(
    tmp_path: Path, operation: str, measured: bool, match: str
) -> None:
    path = tmp_path / "m.json"
    if measured:
        path.write_text("{}")
    with pytest.raises(ConfigError, match=match):
        write_host_spec(tmp_path / "s.json", measured=str(path), operation=operation, **ARGS)
