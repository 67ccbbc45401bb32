"""The seed's job parameters (``parties``, ``common-args``, ``parties-args.<party id>``) as a PowerFL job conf.

Keys the seed sets for its own deployment are mapped where the product has a counterpart and otherwise
reported as ignored with the reason (docs/flow_server.md, "Job parameters"); everything else is a step
parameter and is checked against the pipeline like any job conf (``check_job``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.jobs.conf import check_job
from airflow_provider_powerfl.jobs.pipeline import STEP_COMPONENTS, PipelineDef

IGNORED = {
    "spark-master-name": "a party's Spark master is its pipeline's spark.master and its runtime (local or kubernetes)",
    "hadoop-config": "the party's deployment sets HADOOP_CONF_DIR (chart values, kubernetes hadoop_config_map)",
    "hadoop-user-name": "the party's deployment sets HADOOP_USER_NAME",
    "hdfs-libs-path": "the steps ship in the provider's wheel and runtime image",
    "spark-submit-args": "Spark settings are the pipeline's spark.conf (per task or in defaults)",
}
INPUTS = {"input": "train", "test-input": "test"}
FORMAT_BY_SUFFIX = {".csv": "csv", ".parquet": "parquet", ".json": "json", ".orc": "orc"}


def seed_job_conf(params: Mapping[str, Any], pipeline: PipelineDef, job_id: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The job conf of `params` for `pipeline` (checked as a whole) and the keys ignored, by path, with why."""
    unknown = sorted(set(params) - {"parties", "common-args", "parties-args", "job_id"})
    if unknown:
        raise ConfigError(f"{unknown[0]}: not a job parameter (expected parties, common-args, parties-args)")
    ignored: dict[str, str] = {}
    first = first_step(pipeline)
    conf: dict[str, Any] = {"job_id": job_id, "parties": list(params.get("parties") or pipeline.parties)}
    common, kubernetes = _args(params.get("common-args"), "common-args", first, ignored)
    conf["common-args"] = common
    if kubernetes:
        conf["kubernetes"] = kubernetes
    per_party = params.get("parties-args") or {}
    if not isinstance(per_party, Mapping):
        raise ConfigError("parties-args: expected a mapping of party id -> args")
    conf["parties-args"] = {}
    for party_id, args in per_party.items():
        mapped, pod = _args(args, f"parties-args.{party_id}", first, ignored)
        if pod:
            raise ConfigError(f"parties-args.{party_id}.runtime-image: set it in common-args (a party's pods are its own)")
        conf["parties-args"][str(party_id)] = mapped
    check_job(conf, pipeline)
    return conf, ignored


def first_step(pipeline: PipelineDef) -> str | None:
    """The step name of the pipeline's first step task (where the seed's ``input`` goes), if it has one."""
    for task in pipeline.tasks:
        if task.component in STEP_COMPONENTS:
            return task.step or task.component
    return None


def _args(args: Any, where: str, first: str | None, ignored: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """One layer of seed args as job conf args, and the pod settings it maps to."""
    if args is None:
        return {}, {}
    if not isinstance(args, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(args).__name__}")
    out: dict[str, Any] = {}
    kubernetes: dict[str, Any] = {}
    inputs: dict[str, Any] = {}
    for key, value in args.items():
        path = f"{where}.{key}"
        if key in IGNORED:
            ignored[path] = IGNORED[key]
        elif key == "runtime-image":
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{path}: expected an image name, got {value!r}")
            kubernetes["image"] = value
        elif key in INPUTS:
            inputs[INPUTS[key]] = data_spec(value, path)
        elif key == "output":
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{path}: expected a directory path or URI, got {value!r}")
            out["work_dir"] = value
        else:
            out[key] = value
    if inputs:
        if first is None:
            raise ConfigError(f"{where}.input: the pipeline has no step to read it")
        scoped = dict(out.get(first) or {})
        scoped["inputs"] = {**inputs, **(scoped.get("inputs") or {})}
        out[first] = scoped
    return out, kubernetes


def data_spec(value: Any, path: str) -> dict[str, Any]:
    """A seed ``input``: a path or URI (format by its suffix, csv by default) or a full data spec mapping."""
    if isinstance(value, Mapping):
        return dict(value)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}: expected a path, URI or data spec mapping, got {value!r}")
    suffix = "." + value.rsplit(".", 1)[-1].lower() if "." in value.rsplit("/", 1)[-1] else ""
    return {"uri": value, "format": FORMAT_BY_SUFFIX.get(suffix, "csv")}
