"""The flow-server FastAPI app: routers, and errors as ``{"detail", "field"}`` (docs/flow_server.md)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from airflow_provider_powerfl.exceptions import ConfigError, PowerFLError
from airflow_provider_powerfl.orchestration.rest import AirflowApiError
from airflow_provider_powerfl.plugins.flow_server import actions, catalog, jobs, outputs, pipelines, proposals, results
from airflow_provider_powerfl.plugins.flow_server.party import router as party_router
from airflow_provider_powerfl.plugins.flow_server.reruns import RerunWatcher


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    """The api-server's lifespan (Airflow enters its mounted apps'): the watcher that reruns what a peer reran."""
    watcher = RerunWatcher().start()
    try:
        yield
    finally:
        watcher.stop()


# no schema or docs pages: nothing here is served without Airflow's login (docs/flow_server.md is the contract)
app = FastAPI(
    title="PowerFL flow-server",
    description="PowerFL's REST API: pipelines, jobs, metrics (docs/flow_server.md)",
    openapi_url=None,
    docs_url=None,
    redoc_url=None,
    lifespan=lifespan,
)
app.include_router(party_router)
app.include_router(pipelines.router)
app.include_router(jobs.router)
app.include_router(actions.router)
app.include_router(results.router)
app.include_router(outputs.router)
app.include_router(catalog.router)
app.include_router(proposals.router)

_PATH = re.compile(r"[A-Za-z0-9_\-\[\]]+(?:\.[A-Za-z0-9_\-\[\]]+)*")
_FILES = (".yaml", ".yml", ".json")


def field_of(message: str) -> str | None:
    """The field a ConfigError message names: its first ``a.b.c: `` prefix that is not the document's file name."""
    for part in message.split(": ")[:-1]:
        if _PATH.fullmatch(part) and not part.endswith(_FILES):
            return part
    return None


@app.exception_handler(HTTPException)
async def _http_error(_request: Request, exc: HTTPException) -> JSONResponse:
    return JSONResponse({"detail": exc.detail, "field": None}, status_code=exc.status_code, headers=exc.headers)


@app.exception_handler(RequestValidationError)
async def _query_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 for a bad query or path value, as a 400 naming the field."""
    first = exc.errors()[0] if exc.errors() else {}
    field = ".".join(str(part) for part in first.get("loc", ())[1:]) or None
    return JSONResponse({"detail": f"{field}: {first.get('msg', 'invalid')}", "field": field}, status_code=400)


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
