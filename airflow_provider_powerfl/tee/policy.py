"""A data owner's own TEE policy: which enclave, platform, parties and operations may get its data key.

It comes from the party's own file (the ``powerfl`` connection's ``tee_policy_path``), never from a job conf.
The defaults release nothing: no measurement is allowed, no party, no operation, and simulated evidence is
refused. Debug enclaves are refused always; there is no field to allow them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError, field_validator

from airflow_provider_powerfl.config_file import load_config_file
from airflow_provider_powerfl.exceptions import ConfigError

Operation = Literal["train_lr", "train_gbdt", "train_nn"]
OPERATIONS: tuple[str, ...] = ("train_lr", "train_gbdt", "train_nn")
TCB_STATUSES = (
    "UpToDate", "SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded", "OutOfDate",
    "OutOfDateConfigurationNeeded",
)  # fmt: skip


class TeePolicy(BaseModel):
    """What this data owner lets an enclave do with its slice."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed_mr_enclave: tuple[str, ...] = Field(default=(), description="hex MRENCLAVEs allowed; empty: none")
    allowed_mr_signer: tuple[str, ...] = Field(default=(), description="hex MRSIGNERs allowed; empty: none")
    isv_prod_id: StrictInt | None = Field(default=None, ge=0, le=0xFFFF, description="required ISV product id")
    min_isv_svn: StrictInt = Field(default=0, ge=0, le=0xFFFF, description="least ISV security version")
    allowed_tcb_statuses: tuple[str, ...] = Field(default=("UpToDate",), description="platform TCB statuses accepted")
    rejected_advisories: tuple[str, ...] = Field(default=(), description="Intel advisories that refuse a platform")
    allowed_parties: tuple[str, ...] = Field(default=(), description="parties whose enclave may get the key")
    allowed_operations: tuple[Operation, ...] = Field(default=(), description="what the enclave may compute")
    accept_simulated: StrictBool = Field(
        default=False, description="release to a simulated enclave (NOT CONFIDENTIAL): for development only"
    )

    @field_validator("allowed_mr_enclave", "allowed_mr_signer")
    @classmethod
    def _hex32(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if len(value) != 64 or any(c not in "0123456789abcdefABCDEF" for c in value):
                raise ValueError(f"{value!r} is not 32 bytes of hex")
        return tuple(v.lower() for v in values)

    @field_validator("allowed_tcb_statuses")
    @classmethod
    def _statuses(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [v for v in values if v not in TCB_STATUSES]
        if unknown:
            raise ValueError(f"unknown TCB status {unknown[0]!r} (Revoked is never accepted); known: {TCB_STATUSES}")
        return values


def tee_policy(document: Any, where: str) -> TeePolicy:
    """The policy in ``document``; ConfigError names ``where`` and the field."""
    try:
        return TeePolicy.model_validate(document or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(document)"
        raise ConfigError(f"TEE policy {where}: field {field}: {first['msg']}") from exc


def load_tee_policy(path: Path) -> TeePolicy:
    """The policy in the party's own YAML/JSON file."""
    return tee_policy(load_config_file(path, "TEE policy file"), str(path))
