"""Hetero LR's parameters as one typed model: checked by the estimator at fit and by the job contract at submit."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictInt, field_validator, model_validator

from airflow_provider_powerfl.algorithms.hetero_lr.protocol import RESIDUALS
from airflow_provider_powerfl.algorithms.optimizers import OPTIMIZERS, PENALTIES
from airflow_provider_powerfl.crypto.paillier import DEFAULT_KEY_BITS, valid_key_length
from airflow_provider_powerfl.validation import Contract


def mode_residual(privacy: str, residual: str | None) -> str:
    """The residual a mode trains with: None is the mode's own (strict: "taylor", default: "guest_expansion")."""
    return residual or ("taylor" if privacy == "strict" else "guest_expansion")


def mode_average(privacy: str, average: float | None) -> float:
    """The tail-averaging fraction a mode trains with: None is the mode's own (strict: 0, default: 1)."""
    return (0.0 if privacy == "strict" else 1.0) if average is None else float(average)


class HeteroLRParams(Contract):
    """The estimator's serialisable parameters (HeteroLogisticRegression documents each); defaults are its."""

    max_iter: StrictInt = Field(10, ge=1)
    batch_size: StrictInt = Field(4096, ge=1)
    learning_rate: float = Field(1.0, gt=0, allow_inf_nan=False)
    optimizer: Literal[OPTIMIZERS] = "sgd"
    penalty: Literal[PENALTIES] = "l2"
    alpha: float = Field(0.01, ge=0, allow_inf_nan=False)
    tol: float = Field(1e-4, ge=0, allow_inf_nan=False)
    class_weight: Literal["balanced"] | dict[Literal[0, 1], float] | None = None
    min_batch_size: StrictInt = Field(64, ge=1)
    key_length: StrictInt = DEFAULT_KEY_BITS
    random_state: StrictInt | None = None
    residual: Literal[RESIDUALS] | None = None
    slope_every: StrictInt | None = Field(5, ge=1)
    init_scale: float = Field(0.0, ge=0, allow_inf_nan=False)
    min_support: StrictInt = Field(16, ge=1)
    epsilon: float | None = Field(10.0, gt=0, allow_inf_nan=False)
    delta: float = Field(1e-5, gt=0, le=1)
    privacy: Literal["default", "strict"] = "default"
    average: float | None = Field(None, ge=0, le=1, allow_inf_nan=False)

    _key_length = field_validator("key_length")(classmethod(lambda cls, bits: valid_key_length(bits)))

    @field_validator("class_weight", mode="before")
    @classmethod
    def _class_keys(cls, value: object) -> object:
        """JSON and YAML write the classes as "0"/"1"."""
        if isinstance(value, dict):
            return {int(k) if isinstance(k, str) and k in ("0", "1") else k: v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _batch_floor(self) -> HeteroLRParams:
        if self.batch_size < self.min_batch_size:
            raise ValueError(f"batch_size={self.batch_size} is below min_batch_size={self.min_batch_size}")
        if self.epsilon is not None and self.class_weight is not None:
            raise ValueError(
                f"epsilon={self.epsilon} assumes a label moves its residual by at most 1, which class_weight breaks: "
                "set epsilon to null to train with class_weight (no label noise)"
            )
        if self.privacy == "strict" and (
            self.optimizer != "sgd"
            or self.penalty == "l1"
            or mode_residual(self.privacy, self.residual) != "taylor"
            or self.class_weight is not None
            or mode_average(self.privacy, self.average)
        ):
            raise ValueError(
                "privacy='strict' updates secret-shared weights linearly with the Taylor residual: it needs "
                f"optimizer='sgd' (got {self.optimizer!r}), penalty 'l2' or null (got {self.penalty!r}), "
                f"residual='taylor' (got {self.residual!r}), no class_weight and average 0 (got {self.average})"
            )
        return self
