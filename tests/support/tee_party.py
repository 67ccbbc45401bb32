"""The example TEE pipeline (dags/pipelines/tee_lr.yaml) at two parties of tests/support/parties.py.

The guest operates the enclave host (its connection's ``enclave_host``: the host's own party id and key in the
registry, and the measured enclave app); each owner's TEE policy is its own file (its connection's
``tee_policy_path``), naming that measurement and accepting simulated evidence: there is no SGX here, so every
log line and result of the job says NOT CONFIDENTIAL. The measurement is the session's (the ``measured_enclave``
fixture of tests/conftest.py: the app measured once for every test that runs it)::

    enclave = enclave_party_id()
    with two_parties(root, brokers, pipelines={..., "tee_lr.yaml": tee_pipeline(enclave)},
                     connection_extra=tee_connections(root, enclave, measured_enclave)) as parties:
        deploy_enclave(parties, enclave, brokers["host2"], measured_enclave)   # before the job: registry entry, policies
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from tests.support.parties import REPO, TwoParties

EXAMPLE = REPO / "dags" / "pipelines" / "tee_lr.yaml"
TEE_PIPELINE = "powerfl_pipeline_tee_lr"


def enclave_party_id() -> str:
    """A party id of this session for the enclave host (ids are per session: sessions share the brokers)."""
    return f"3{secrets.randbelow(90000) + 10000}"


def tee_pipeline(enclave: str) -> Callable[[str, str], dict[str, Any]]:
    """The example pipeline with this session's party ids and a small Spark for its align step."""

    def make(guest: str, host: str) -> dict[str, Any]:
        definition = yaml.safe_load(EXAMPLE.read_text())
        definition["parties"] = [f"{guest}=guest", f"{host}=host"]
        definition["tasks"]["train"]["parameters"]["enclave_party"] = enclave
        definition["defaults"]["spark"] = {
            "master": "local[1]",
            "conf": {"spark.ui.enabled": "false", "spark.driver.memory": "512m", "spark.sql.shuffle.partitions": "2"},
        }
        return definition

    return make


def tee_connections(root: Path, enclave: str, measured: Path) -> dict[str, dict[str, Any]]:
    """Each party's connection fields: its own TEE policy file; at the guest, the enclave host it operates, running
    the app `measured`."""
    tee = root / "tee"
    return {
        "guest": {
            "tee_policy_path": str(tee / "guest-policy.yaml"),
            "enclave_host": {
                "party_id": enclave,
                "private_key_path": str(root / "keys" / f"{enclave}.key"),
                "measured": str(measured),
            },
        },
        "host": {"tee_policy_path": str(tee / "host-policy.yaml")},
    }


def deploy_enclave(parties: TwoParties, enclave: str, broker: str, measured: Path) -> dict[str, Any]:
    """The enclave host's registry entry and key, and each owner's policy naming the app `measured`; its identity."""
    from airflow_provider_powerfl.federation.keys import generate_party_keys

    _, public = generate_party_keys(parties.root / "keys", enclave)
    registry = yaml.safe_load(parties.registry.read_text())
    registry["parties"][enclave] = {"role": "arbiter", "bootstrap_servers": broker, "public_key": str(public)}
    parties.registry.write_text(yaml.safe_dump(registry))
    tee = parties.root / "tee"
    tee.mkdir(exist_ok=True)
    identity = json.loads(measured.read_text())
    for role in ("guest", "host"):
        policy = {
            "allowed_mr_enclave": [identity["mr_enclave"]],
            "allowed_mr_signer": [identity["mr_signer"]],
            "allowed_parties": [enclave],
            "allowed_operations": ["train_lr"],
            "accept_simulated": True,  # no SGX here: NOT CONFIDENTIAL
        }
        (tee / f"{role}-policy.yaml").write_text(yaml.safe_dump(policy))
    return identity


def tee_job_parameters(parties: TwoParties) -> dict[str, Any]:
    """The seed's job parameters for the example: each party's breast columns, train and test."""
    params = parties.job_parameters()
    params["common-args"] = {"spark-master-name": "local"}
    return params


def centralized_auc(parties: TwoParties, job_id: str) -> float:
    """The same LR on the plainly joined aligned rows (the guest's order, its columns first): the reference."""
    from enclave import train

    def aligned(party_id: str, split: str) -> pd.DataFrame:
        return pd.read_parquet(parties.work_dir / job_id / party_id / "align" / "aligned" / split)

    joined = {}
    for split in ("train", "test"):
        guest, host = aligned(parties.guest.party_id, split), aligned(parties.host.party_id, split)
        host = host.set_index("id").loc[guest["id"]]
        joined[split] = (np.hstack([guest.drop(columns=["id", "label"]).to_numpy(float), host.to_numpy(float)]),
                         guest["label"].to_numpy(float))  # fmt: skip
    (X, y), (T, y_test) = joined["train"], joined["test"]
    return train.auc(y_test, train.fit_and_score("train_lr", X, y, T, {"alpha": 1e-3, "max_iter": 1000})[1])
