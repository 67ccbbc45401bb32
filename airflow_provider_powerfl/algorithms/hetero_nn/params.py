"""Hetero NN's parameters as one typed model: checked by the estimator at fit and by the job contract at submit."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictBool, StrictInt, StrictStr, field_validator, model_validator

from airflow_provider_powerfl.algorithms.hetero_nn.layers import ACTIVATIONS
from airflow_provider_powerfl.algorithms.hetero_nn.losses import TASKS
from airflow_provider_powerfl.algorithms.hetero_nn.optim import OPTIMIZERS
from airflow_provider_powerfl.algorithms.hetero_nn.protocol import MODES
from airflow_provider_powerfl.crypto.paillier import DEFAULT_KEY_BITS, valid_key_length
from airflow_provider_powerfl.validation import Contract


class HeteroNNParams(Contract):
    """The estimator's serialisable parameters (HeteroNN documents each); defaults are its."""

    task: Literal[TASKS] = "binary"
    mode: Literal[MODES] = "encrypted"
    interactive_units: StrictInt = Field(4, ge=1, le=16)
    bottom_hidden: list[StrictInt] = Field([16])
    top_hidden: list[StrictInt] = Field([8])
    activation: Literal[ACTIVATIONS] = "relu"
    bottom_activation: Literal[ACTIVATIONS] = "tanh"
    interactive_activation: Literal[ACTIVATIONS] = "relu"
    dropout: float = Field(0.0, ge=0, lt=1)
    batch_norm: StrictBool = False
    categorical: list[StrictStr] = Field([])  # this party's categorical columns, by name: embedded, not scaled
    embedding_dim: StrictInt = Field(4, ge=1, le=64)
    optimizer: Literal[OPTIMIZERS] = "adam"
    learning_rate: float = Field(0.01, gt=0, allow_inf_nan=False)
    alpha: float = Field(1e-4, ge=0, allow_inf_nan=False)
    batch_size: StrictInt = Field(256, ge=1)
    max_iter: StrictInt = Field(10, ge=1)
    early_stopping_rounds: StrictInt | None = Field(None, ge=1)
    min_batch_size: StrictInt = Field(64, ge=1)
    max_norm: float | None = Field(1.0, gt=0, allow_inf_nan=False)
    epsilon: float | None = Field(16.0, gt=0, allow_inf_nan=False)
    equalize_norms: bool = False
    delta: float = Field(1e-5, gt=0, le=1)
    key_length: StrictInt = DEFAULT_KEY_BITS
    random_state: StrictInt | None = None

    _key_length = field_validator("key_length")(classmethod(lambda cls, bits: valid_key_length(bits)))

    @field_validator("bottom_hidden", "top_hidden")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(v < 1 or v > 4096 for v in value):
            raise ValueError(f"hidden layer sizes must be in [1, 4096], got {value}")
        return value

    @field_validator("categorical")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value) or not all(value):
            raise ValueError(f"categorical must name distinct, non-empty columns, got {value}")
        return value

    @model_validator(mode="after")
    def _checks(self) -> HeteroNNParams:
        if self.batch_size < self.min_batch_size:
            raise ValueError(f"batch_size={self.batch_size} is below min_batch_size={self.min_batch_size}")
        if self.epsilon is not None and self.max_norm is None:
            raise ValueError(f"epsilon={self.epsilon} needs max_norm: the noise is calibrated to the clipped gradient's norm")
        if self.epsilon is not None and self.batch_norm:
            raise ValueError(f"epsilon={self.epsilon} with batch_norm=True: batch norm couples a batch's rows (one row's "
                             "label moves every row's gradient), which the per-row noise's accounting does not cover; "
                             "set epsilon=None to train with batch norm and no differential privacy")  # fmt: skip
        return self
