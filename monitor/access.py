"""Who may read provmon's HTTP API, and what a refused or malformed request gets back.

An optional bearer token guards ``/api/*`` and the status page; ``/metrics``, ``/healthz``
and ``/readyz`` stay open for Prometheus and orchestrators, and ``POST /api/samples`` has
its own token (:mod:`monitor.passive`). The token is read from the environment variable
``listen.token_env`` names (default ``PROVMON_API_TOKEN``); without one the API is open,
which suits loopback, and listening elsewhere without one is warned about at start.
Browsers may send the token as the password of HTTP Basic auth (any user name).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import html
import ipaddress
import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from monitor import secrets
from monitor.config import Config

API_TOKEN_ENV = "PROVMON_API_TOKEN"  # noqa: S105 (a variable name)
PASSIVE_TOKEN_ENV = "PROVMON_PASSIVE_TOKEN"  # noqa: S105
#: problems listed in one 422 answer
MAX_PROBLEMS = 20

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def presented_token(header: str | None) -> str | None:
    """The token of a ``Bearer`` header, or the password of a ``Basic`` one."""
    scheme, _, value = (header or "").partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def token_ok(header: str | None, token: str) -> bool:
    given = presented_token(header)
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def guarded(path: str) -> bool:
    """Paths the API token guards: the status page and ``/api/*`` but the samples
    endpoint (a gateway posts there with the samples token)."""
    return path == "/" or (path.startswith("/api/") and path != "/api/samples")


Handler = Callable[[Request], Awaitable[Response]]


def protect(app: FastAPI, config: Config) -> str | None:
    """Install the token check, input-free validation errors and the offline API index;
    return the token (None: open)."""
    env_name = config.listen.token_env or API_TOKEN_ENV
    token = secrets.read_secret(env_name)
    if token is None and not is_loopback(config.listen.host):
        log.warning(
            "the API and status page on %s are open to anyone who can reach it: set %s to a token",
            config.listen.host,
            env_name,
        )

    if token is not None:
        expected = token

        @app.middleware("http")
        async def require_token(request: Request, call_next: Handler) -> Response:
            if guarded(request.url.path) and not token_ok(
                request.headers.get("authorization"), expected
            ):
                return JSONResponse(
                    {"detail": f"a valid bearer token is required (see {env_name})"},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer, Basic realm="provmon"'},
                )
            return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default answer carries each bad ``input`` back: never echo input
        problems = [
            ".".join(str(p) for p in item.get("loc", ())) + f": {item.get('msg', 'invalid')}"
            for item in exc.errors()
        ]
        if len(problems) > MAX_PROBLEMS:
            problems = [*problems[:MAX_PROBLEMS], f"and {len(problems) - MAX_PROBLEMS} more"]
        return JSONResponse({"detail": problems}, status_code=422)

    @app.get("/api/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(api_index(app))

    return token


def api_index(app: FastAPI) -> str:
    """A plain page listing the API's endpoints: nothing loaded from elsewhere."""
    rows = []
    for path, operations in app.openapi().get("paths", {}).items():
        for method, operation in operations.items():
            summary = str(operation.get("description") or operation.get("summary") or "")
            rows.append(
                f"<tr><td>{html.escape(method.upper())}</td><td><code>{html.escape(path)}"
                f"</code></td><td>{html.escape(summary.strip().splitlines()[0] if summary else '')}"
                "</td></tr>"
            )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>provmon API</title></head>"
        "<body><h1>provmon API</h1><p>The full description: "
        "<a href='/openapi.json'>/openapi.json</a> (OpenAPI 3).</p>"
        "<table><tr><th>method</th><th>path</th><th>what</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )
