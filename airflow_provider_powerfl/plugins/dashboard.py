"""The task dashboard's app, mounted at ``/powerfl`` in each party's api-server (see docs/dashboard.md).

It serves the built single-page app (``dashboard_dist/``, built from ``dashboard/`` by ``make install``)
to signed-in Airflow users only: the same JWT as ``/api/v2`` (the UI's ``_token`` cookie or a bearer
header). A browser without one gets a 401 page whose script sends it to Airflow's login with ``next=``
set to the page's full address, fragment included, so a deep link (``/powerfl/#/jobs/<id>``) comes back
to its job after the login; the page's script then calls ``/flow-server`` with the same cookie.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from airflow.api_fastapi.core_api.security import bearer_scheme, get_user
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials

DIST = Path(__file__).with_name("dashboard_dist")
NOT_BUILT = "the dashboard is not built: run `make install` (npm run build in dashboard/)"

# No data, only the way to the login: relative to the page, so behind any [api] base_url.
LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>PowerFL: sign in</title></head>
<body><p>Sign in to Airflow to see the PowerFL dashboard: <a id="login" href="../api/v2/auth/login">log in</a>.</p>
<script>
  var login = new URL("../api/v2/auth/login", document.baseURI);
  login.searchParams.set("next", window.location.href);
  window.location.replace(login.href);
</script></body></html>
"""

app = FastAPI(title="PowerFL dashboard", docs_url=None, redoc_url=None, openapi_url=None)


async def signed_in(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
) -> bool:
    """Whether Airflow accepts this request's token (Airflow's own get_user: bearer header, else the cookie)."""
    try:
        await get_user(request, None, credentials)
    except HTTPException:
        return False
    return True


SignedIn = Annotated[bool, Depends(signed_in)]


@app.get("/", include_in_schema=False)
async def index(is_signed_in: SignedIn) -> Response:
    if not is_signed_in:
        return HTMLResponse(LOGIN_PAGE, status_code=401, headers={"Cache-Control": "no-store"})
    page = DIST / "index.html"
    if not page.is_file():
        return JSONResponse({"detail": NOT_BUILT}, status_code=503)
    return FileResponse(page, headers={"Cache-Control": "no-cache"})


@app.get("/assets/{name}", include_in_schema=False)
async def asset(name: str, is_signed_in: SignedIn) -> Response:
    if not is_signed_in:
        return JSONResponse({"detail": "Not authenticated"}, status_code=401)
    assets = DIST / "assets"
    if not assets.is_dir() or name not in {path.name for path in assets.iterdir()}:  # no path leaves assets/
        return JSONResponse({"detail": f"no asset {name!r}"}, status_code=404)
    # content-hashed names (Vite): a new build has new names, so a browser may keep these
    return FileResponse(assets / name, headers={"Cache-Control": "private, max-age=31536000, immutable"})
