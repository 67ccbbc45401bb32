"""This party's own outputs of a job: a model's files to download, the first rows of its aligned data. Never a peer's.

A model version directory (``<root>/<model_id>/v<N>/``: its manifest and this party's state) is what this
party's train step saved; the aligned data is this party's own part of an align step's output (the ids in
the intersection, its own label if it holds one, its own features). Both are found through the step's XCom
result at this party, so a path is never taken from the request.
"""

from __future__ import annotations

import io
import math
import tarfile
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlparse

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.models.store import MANIFEST_FILE, version_dir
from airflow_provider_powerfl.plugins.flow_server.airflow_api import Airflow, CallerClient
from airflow_provider_powerfl.plugins.flow_server.auth import User
from airflow_provider_powerfl.plugins.flow_server.party import this_party
from airflow_provider_powerfl.plugins.flow_server.runs import find_job, step_results, task_instances

router = APIRouter(prefix="/jobs/{job_id}")
PREVIEW_ROWS = 100


def local_path(uri: str, what: str) -> Path:
    """A plain path or ``file://`` URI as a local path; 404 naming `what` for anything this api-server cannot read."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path) if parsed.scheme else uri)
    raise HTTPException(404, f"{what}: {uri!r} is not on this party's file system (scheme {parsed.scheme!r})")


def _results(airflow: CallerClient, job_id: str) -> dict[str, dict[str, Any]]:
    run = find_job(airflow, job_id)
    return step_results(airflow, run, task_instances(airflow, run))


def model_dir(result: dict[str, Any], job_id: str, task_id: str) -> tuple[Path, dict[str, Any]]:
    """The version directory of the model a train step's result names; 404 naming what is missing."""
    model = result.get("model")
    if not isinstance(model, dict) or not model.get("model_id") or not model.get("root"):
        raise HTTPException(404, f"job {job_id!r}: step {task_id!r} saved no model at this party")
    root = local_path(str(model["root"]), f"model root of step {task_id!r}").resolve()
    what = f"job {job_id!r}: model {model['model_id']} v{model.get('version')}"
    try:
        target = version_dir(root, str(model["model_id"]), model.get("version")).resolve()
    except ConfigError as exc:
        raise HTTPException(404, f"{what}: {exc}") from exc
    if not target.is_relative_to(root) or not (target / MANIFEST_FILE).is_file():  # a link out of the root too
        raise HTTPException(404, f"{what} is not at {target}")
    return target, model


def tar_gz(directory: Path, prefix: str) -> bytes:
    """The regular files under `directory` as a gzipped tar, under `prefix/` (no links followed)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and not path.is_symlink():
                archive.add(path, arcname=f"{prefix}/{path.relative_to(directory).as_posix()}", recursive=False)
    return buffer.getvalue()


@router.get("/models/{task_id}/download")
def download_model(job_id: str, task_id: str, _user: User, airflow: Airflow) -> Response:
    """This party's files of the model step `task_id` saved (its manifest and own state) as ``.tar.gz``."""
    result = _results(airflow, job_id).get(task_id)
    if result is None:
        raise HTTPException(404, f"job {job_id!r}: no finished step {task_id!r} with a result at this party")
    target, model = model_dir(result, job_id, task_id)
    name = f"{job_id}-{this_party().party_id}-{task_id}-v{model.get('version')}"
    return Response(
        tar_gz(target, name),
        media_type="application/gzip",
        headers={"Content-Disposition": f'attachment; filename="{name}.tar.gz"'},
    )


def preview_rows(path: Path, limit: int = PREVIEW_ROWS) -> tuple[list[str], list[list[Any]], int]:
    """The first `limit` rows of a Parquet file or directory (Spark's: part files, ``_SUCCESS`` ignored) and its row count."""
    import pyarrow.dataset as ds

    dataset = ds.dataset(str(path), format="parquet")
    head = dataset.head(limit)
    columns = head.column_names
    rows = [[_plain(value) for value in row.values()] for row in head.to_pylist()]
    return columns, rows, dataset.count_rows()


def _plain(value: Any) -> Any:
    """JSON-safe: NaN and infinities as None."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


@router.get("/data")
def aligned_data(
    job_id: str,
    _user: User,
    airflow: Airflow,
    step: Annotated[str | None, Query(min_length=1)] = None,
    input_name: Annotated[str | None, Query(alias="input", min_length=1)] = None,
) -> dict[str, Any]:
    """The first 100 rows of this party's aligned data (an align step's output; default: the first align step)."""
    results = _results(airflow, job_id)
    aligns = {task: r for task, r in results.items() if r.get("step") == "align"}
    task_id = step or next(iter(aligns), None)
    if task_id is None or task_id not in aligns:
        what = f"step {step!r} is no finished align step" if step else "no finished align step"
        raise HTTPException(404, f"job {job_id!r}: {what} at this party")
    outputs = aligns[task_id].get("outputs") or {}
    name = input_name or ("train" if "train" in outputs else next(iter(outputs), None))
    if name is None or not isinstance(outputs.get(name), dict):
        raise HTTPException(404, f"job {job_id!r}: step {task_id!r} has no aligned input {name!r} (has {sorted(outputs)})")
    data = outputs[name]
    path = local_path(str(data.get("uri") or ""), f"aligned input {name!r} of step {task_id!r}")
    if not path.exists():
        raise HTTPException(404, f"job {job_id!r}: aligned input {name!r} of step {task_id!r} is gone from {path}")
    columns, rows, total = preview_rows(path)
    return {
        "job_id": job_id,
        "party_id": this_party().party_id,
        "step": task_id,
        "input": name,
        "inputs": sorted(outputs),
        "id_column": data.get("id_column"),
        "label_column": data.get("label_column"),
        "columns": columns,
        "rows": rows,
        "total_rows": total,
    }
