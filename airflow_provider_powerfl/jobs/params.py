"""Each step's parameters as one typed model: what a pipeline's ``parameters`` and a conf's args may hold.

The same models check a job at submit (the REST API's schema via jobs.document, ``powerfl job validate``),
in the operator before any spark-submit, and in the Spark step before its JVM starts. An unknown key is
refused with its path; a key given to every step (``common-args``) must be some step's parameter and
reaches only the steps that take it (jobs.conf.StepArgs.checked).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StrictBool, StrictInt, StrictStr, model_validator

from airflow_provider_powerfl.algorithms.feature_engineering.pipeline import FeaturePipeline
from airflow_provider_powerfl.algorithms.hetero_lr.params import HeteroLRParams
from airflow_provider_powerfl.algorithms.hetero_nn.params import HeteroNNParams
from airflow_provider_powerfl.algorithms.secureboost.objectives import OBJECTIVES
from airflow_provider_powerfl.algorithms.secureboost.params import SecureBoostParams
from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.federation.party import DEFAULT_SILENCE_TIMEOUT
from airflow_provider_powerfl.jobs.data_spec import HIVE_URI
from airflow_provider_powerfl.validation import Contract, parse

Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
InputNames = Annotated[list[StrictStr], Field(min_length=1)]


# SecureBoost's objective by the task's name, as a job conf may give it -> XGBoost's name, which the estimator takes
TASK_OBJECTIVES = {"binary": "binary:logistic", "multiclass": "multi:softprob", "regression": "reg:squarederror"}


def _hive_tables(value: Any) -> Any:
    for name, uri in (value or {}).items():
        if not (isinstance(uri, str) and HIVE_URI.match(uri)):
            raise ValueError(f"{name}: expected hive://<db>.<table>, got {uri!r}")
    return value


# an output's name -> the Hive table (hive://<db>.<table>) the step publishes it as, once written (output.publish_tables)
OutputTables = Annotated[dict[StrictStr, StrictStr], AfterValidator(_hive_tables)]


class StepParams(Contract):
    """What every federated step takes (spark_jobs/common/party.py reads them)."""

    timeout: Seconds = 600.0  # seconds to wait for one message of a peer
    silence_timeout: Seconds = DEFAULT_SILENCE_TIMEOUT  # seconds a peer may send nothing, not even a heartbeat
    channel: StrictStr | None = None  # the federation channel when one job runs the same step twice


class ModelRef(Contract):
    """A model a step reads: the ``model`` of an upstream train or fit step's result.json."""

    root: StrictStr
    model_id: StrictStr
    version: StrictInt | Literal["latest"] | None = None
    algorithm: StrictStr | None = None


class InspectDataParams(StepParams):
    inputs: InputNames | None = None  # default: every input of the spec


class AlignParams(StepParams):
    protocol: Literal["ecdh", "rsa"] = "ecdh"
    inputs: InputNames | None = None  # default: every input of the spec
    output_tables: OutputTables | None = None  # aligned input name -> hive://<db>.<table> it is also published as


class HeteroLRTrain(StepParams, HeteroLRParams):
    algorithm: Literal["hetero_lr"] = "hetero_lr"
    input: StrictStr = "train"
    standardize: StrictBool = True  # each party scales its own columns


class SecureBoostTrain(StepParams, SecureBoostParams):
    algorithm: Literal["secureboost"]
    input: StrictStr = "train"
    validation: StrictStr | None = None  # an aligned input for early_stopping_rounds
    # the task's name or XGBoost's; the estimator gets XGBoost's
    objective: Literal[(*TASK_OBJECTIVES, *OBJECTIVES)] = "binary"  # type: ignore[assignment]


class HeteroNNTrain(StepParams, HeteroNNParams):
    algorithm: Literal["hetero_nn"]
    input: StrictStr = "train"
    validation: StrictStr | None = None  # an aligned input for early_stopping_rounds
    standardize: StrictBool = True  # each party scales its own columns


class PredictParams(StepParams):
    input: StrictStr = "test"
    model: ModelRef | None = None  # default: the upstream train step's


class FeatureEngineeringParams(StepParams):
    mode: Literal["fit", "apply"] = "fit"
    input: StrictStr = "train"
    inputs: InputNames | None = None
    # each stage's settings are checked by FeaturePipeline itself (keys, and how the stages fit together)
    filter: dict[str, Any] | None = None
    binning: dict[str, Any] | None = None
    select: dict[str, Any] | None = None
    transform: StrictStr = "none"
    transform_options: dict[str, Any] | None = None
    model: ModelRef | None = None
    output_tables: OutputTables | None = None  # transformed input name -> hive://<db>.<table> it is also published as

    @model_validator(mode="after")
    def _stages(self) -> FeatureEngineeringParams:
        stages = {name: getattr(self, name) for name in ("filter", "binning", "select", "transform", "transform_options")}
        try:
            FeaturePipeline(**stages).check_params()
        except ConfigError as exc:
            raise ValueError(str(exc).removeprefix("params.")) from None
        return self


class EnclaveParams(StepParams):
    """The ``enclave`` step: this party's aligned rows sealed to an attested enclave, which trains in plaintext.

    Whether this party's key may go to that enclave is its own TEE policy's decision (its ``powerfl``
    connection's ``tee_policy_path``); nothing here can widen it (docs/tee.md).
    """

    operation: Literal["train_lr", "train_gbdt", "train_nn"] = "train_lr"  # what the enclave computes
    enclave_party: StrictStr  # the enclave host's party id (in the registry; the one party that launches it)
    input: StrictStr = "train"  # the aligned input the enclave trains on
    test_input: StrictStr = "test"  # the aligned input it scores (AUC)
    lr_alpha: float = Field(1e-3, gt=0, allow_inf_nan=False)  # train_lr: L2 strength, C = 1 / (alpha n)
    lr_max_iter: StrictInt = Field(1000, ge=1)  # train_lr: lbfgs iterations
    gbdt_trees: StrictInt = Field(30, ge=1)  # train_gbdt: trees
    gbdt_max_depth: StrictInt = Field(3, ge=1)  # train_gbdt: depth of each tree
    gbdt_learning_rate: float = Field(0.3, gt=0, allow_inf_nan=False)  # train_gbdt: shrinkage
    nn_epochs: StrictInt = Field(10, ge=1)  # train_nn: epochs of hetero NN's network, trained centrally
    nn_batch_size: StrictInt = Field(256, ge=1)  # train_nn: rows per batch
    nn_learning_rate: float = Field(0.01, gt=0, allow_inf_nan=False)  # train_nn: the optimizer's step

    def enclave_params(self) -> dict[str, Any]:
        """What the enclave app's training takes (enclave/train.py)."""
        if self.operation == "train_lr":
            return {"alpha": self.lr_alpha, "max_iter": self.lr_max_iter}
        if self.operation == "train_nn":
            return {"max_iter": self.nn_epochs, "batch_size": self.nn_batch_size, "learning_rate": self.nn_learning_rate}
        return {"n_estimators": self.gbdt_trees, "max_depth": self.gbdt_max_depth, "learning_rate": self.gbdt_learning_rate}


TRAINERS: dict[str, type[StepParams]] = {"hetero_lr": HeteroLRTrain, "secureboost": SecureBoostTrain, "hetero_nn": HeteroNNTrain}
STEP_MODELS: dict[str, tuple[type[StepParams], ...]] = {
    "inspect_data": (InspectDataParams,),
    "align": (AlignParams,),
    "feature_engineering": (FeatureEngineeringParams,),
    "train": tuple(TRAINERS.values()),
    "predict": (PredictParams,),
    "evaluate": (StepParams,),
    "enclave": (EnclaveParams,),
}
STEPS = tuple(STEP_MODELS)


def step_keys(step: str) -> frozenset[str]:
    """Every parameter some model of ``step`` takes."""
    return frozenset(name for model in STEP_MODELS[step] for name in model.model_fields)


def step_model(step: str, params: Mapping[str, Any], where: str = "params") -> type[StepParams]:
    """The model of ``step`` given its parameters (train: the one of ``params.algorithm``, default hetero_lr)."""
    if step != "train":
        return STEP_MODELS[step][0]
    algorithm = params.get("algorithm", "hetero_lr")
    if algorithm not in TRAINERS:
        raise ConfigError(f"{where}.algorithm: expected {'|'.join(TRAINERS)}, got {algorithm!r}")
    return TRAINERS[algorithm]


def validate_step_params(step: str, params: Mapping[str, Any], where: str = "params") -> StepParams:
    """One step's merged parameters as its typed model; the ConfigError names ``where.<key>``."""
    return parse(step_model(step, params, where), params, where)
