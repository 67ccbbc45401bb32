"""SecureBoost's parameters as typed models: checked by the estimators at fit and by the job contract at submit."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictBool, StrictInt, field_validator, model_validator

from airflow_provider_powerfl.algorithms.secureboost.objectives import OBJECTIVES
from airflow_provider_powerfl.crypto.paillier import DEFAULT_KEY_BITS, valid_key_length
from airflow_provider_powerfl.validation import Contract


class BoostingParams(Contract):
    """XGBoost-style parameters of both estimators (the plaintext one and SecureBoost); defaults are theirs."""

    n_estimators: StrictInt = Field(100, ge=1)
    max_depth: StrictInt = Field(6, ge=1)
    learning_rate: float = Field(0.3, gt=0, allow_inf_nan=False)
    max_bin: StrictInt = Field(256, ge=2, le=65535)
    min_child_weight: float = Field(1.0, ge=0, allow_inf_nan=False)
    reg_lambda: float = Field(1.0, ge=0, allow_inf_nan=False)
    gamma: float = Field(0.0, ge=0, allow_inf_nan=False)
    subsample: float = Field(1.0, gt=0, le=1)
    goss: StrictBool = False
    top_rate: float = Field(0.2, gt=0, le=1)
    other_rate: float = Field(0.1, gt=0, le=1)
    early_stopping_rounds: StrictInt | None = Field(None, ge=1)
    objective: Literal[OBJECTIVES] = "binary:logistic"
    random_state: StrictInt | None = None

    @model_validator(mode="after")
    def _goss(self) -> BoostingParams:
        if self.goss and self.top_rate + self.other_rate > 1.0:
            raise ValueError(f"top_rate + other_rate must be <= 1, got {self.top_rate} + {self.other_rate}")
        if self.goss and self.subsample < 1.0:
            raise ValueError(f"subsample must be 1 with goss (GOSS chooses the rows), got {self.subsample}")
        return self


class SecureBoostParams(BoostingParams):
    """HeteroSecureBoost's own parameters on top of the boosting ones."""

    key_length: StrictInt = DEFAULT_KEY_BITS
    guest_only_trees: StrictInt = Field(0, ge=0)
    hist_noise: float = Field(0.0, ge=0, allow_inf_nan=False)
    # on by default (issue 18): the partitions give hosts the labels (docs/security.md, "SecureBoost")
    hide_instance_space: StrictBool = True  # the guest's: hosts never learn which rows are in which node

    _key_length = field_validator("key_length")(classmethod(lambda cls, bits: valid_key_length(bits)))
