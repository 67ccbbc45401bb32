"""The flow-server FastAPI app: routers, and errors as ``{"detail", "field"}`` (docs/flow_server.md)."""

from __future__ import annotations

import re

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from airflow_provider_powerfl.exceptions import ConfigError, PowerFLError
from airflow_provider_powerfl.orchestration.rest import AirflowApiError
from airflow_provider_powerfl.plugins.flow_server import jobs, pipelines
from airflow_provider_powerfl.plugins.flow_server.party import router as party_router

app = FastAPI(title="PowerFL flow-server", description="PowerFL's REST API: pipelines, jobs, metrics (docs/flow_server.md)")
app.include_router(party_router)
app.include_router(pipelines.router)
app.include_router(jobs.router)

_FIELD = re.compile(r"(?:^|: )([A-Za-z0-9_.\-]+(?:\.[A-Za-z0-9_\-\[\]]+)+): ")


def field_of(message: str) -> str | None:
    """The dotted field a ConfigError message names (the last ``a.b.c: `` before the reason), if any."""
    found = _FIELD.findall(message)
    return found[-1] if found else None


@app.exception_handler(ConfigError)
async def _config_error(_request: Request, exc: ConfigError) -> JSONResponse:
    return JSONResponse({"detail": str(exc), "field": field_of(str(exc))}, status_code=400)


@app.exception_handler(AirflowApiError)
async def _airflow_error(_request: Request, exc: AirflowApiError) -> JSONResponse:
    status = exc.status if exc.status in (400, 401, 403, 404, 409, 422) else 502
    return JSONResponse({"detail": str(exc), "field": None}, status_code=400 if status == 422 else status)


@app.exception_handler(PowerFLError)
async def _powerfl_error(_request: Request, exc: PowerFLError) -> JSONResponse:
    return JSONResponse({"detail": str(exc), "field": None}, status_code=502)
