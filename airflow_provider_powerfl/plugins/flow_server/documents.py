"""Uploaded documents (a pipeline, job parameters): multipart file, YAML or JSON body -> a mapping, or a 400 naming it."""

from __future__ import annotations

from typing import Any

import yaml
from fastapi import Request
from starlette.datastructures import UploadFile

from airflow_provider_powerfl.exceptions import ConfigError


def parse_document(raw: bytes, what: str) -> dict[str, Any]:
    """YAML (JSON is YAML) text as a mapping; ConfigError names `what` and why not."""
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except (yaml.YAMLError, ValueError, KeyError, RecursionError) as exc:
        raise ConfigError(f"{what}: not valid YAML or JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{what}: expected a mapping, got {type(data).__name__}")
    return data


async def read_document(request: Request, form_field: str, what: str) -> tuple[dict[str, Any], str]:
    """The document of a request: the multipart form's `form_field` file (``--form file=@x.yaml``) or the body.

    Returns the mapping and its name (the uploaded file's, else `what`).
    """
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get(form_field)
        if upload is None:
            raise ConfigError(f"{form_field}: missing form field (e.g. --form {form_field}=@{what})")
        if isinstance(upload, UploadFile):
            name = upload.filename or what
            return parse_document(await upload.read(), name), name
        return parse_document(str(upload).encode(), what), what
    body = await request.body()
    if not body.strip():
        raise ConfigError(f"{what}: empty body (send --form {form_field}=@{what}, or the document as YAML or JSON)")
    return parse_document(body, what), what
