"""The one place that builds httpx clients and translates transport errors into outcomes.

Every outbound request of provmon (probes, image downloads, pricing fetches) uses a client
from :func:`build_client`: an honest User-Agent, no redirects unless a caller asks for one,
bounded pools, and a shared TLS context (building one per client costs milliseconds of CPU).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import os
import re
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import httpx

from monitor import __version__
from monitor.interfaces import Outcome
from monitor.netbackend import AsyncioBackend
from monitor.netpool import AsyncioPool

USER_AGENT = f"provmon/{__version__} (+https://github.com/provmon/provmon; monitoring probe)"


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing: what an API answer sets is not sent back."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class ProbeClient(httpx.AsyncClient):
    """A client that keeps no cookies, and sends through its transport directly.

    Providers authenticate API calls by key, never by cookie; a jar would only carry a load
    balancer's stickiness from one probe to the next (each probe should see the provider
    afresh), and parsing every answer's ``Set-Cookie`` costs CPU. With no cookies, no auth,
    no event hooks and no redirects, :meth:`AsyncClient.send`'s layers (auth flow, redirect
    loop, cookie jar, response wrapping) do nothing for a probe but cost a tenth of its
    CPU: :meth:`probe_send` skips them (``monitor.probe_context`` uses it)."""

    def __init__(self, transport: httpx.AsyncHTTPTransport, **kwargs: Any) -> None:
        super().__init__(transport=transport, **kwargs)
        self.probe_transport = transport

    @property
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        if cookies:
            raise ValueError("a probe client keeps no cookies")

    @property
    def plain(self) -> bool:
        """True while nothing was added that only :meth:`send` honours (event hooks, auth):
        then :meth:`probe_send` is what :meth:`send` would do."""
        hooks = self.event_hooks
        return not (hooks["request"] or hooks["response"]) and self.auth is None

    def probe_request(
        self,
        method: str,
        url: httpx.URL | str,
        *,
        json: Any,
        headers: dict[str, str] | None,
        params: dict[str, str] | None,
        timeout: httpx.Timeout,
        extensions: dict[str, Any],
    ) -> httpx.Request:
        """What :meth:`build_request` makes for a client with no base URL, cookies or
        default query parameters: its headers under the request's own."""
        merged = self.headers.copy()
        if headers:
            merged.update(headers)
        return httpx.Request(
            method,
            url,
            params=params,
            headers=merged,
            json=json,
            extensions={**extensions, "timeout": timeout.as_dict()},
        )

    async def probe_send(self, request: httpx.Request) -> httpx.Response:
        """Send without reading the body (``stream=True``); the caller closes it."""
        if self.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        response = await self.probe_transport.handle_async_request(request)
        response.request = request
        return response


_NO_COOKIES = _NoCookies()

#: what carries every async client's requests: ``asyncio`` (ours: the backend of
#: :mod:`monitor.netbackend` under the pool of :mod:`monitor.netpool`) or ``anyio``
#: (httpcore's own pool and backend); the choice is for side-by-side measurement
BACKEND_ENV = "PROVMON_HTTP_BACKEND"
BACKENDS = ("asyncio", "anyio")


def backend_name() -> str:
    """The backend chosen by ``PROVMON_HTTP_BACKEND`` (default ``asyncio``)."""
    name = os.environ.get(BACKEND_ENV, "").strip().lower() or BACKENDS[0]
    if name not in BACKENDS:
        raise ValueError(f"{BACKEND_ENV} must be one of {', '.join(BACKENDS)}")
    return name


def _transport(limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """httpx's transport (request conversion, exception mapping) over the connection pool
    :func:`backend_name` chooses."""
    transport = httpx.AsyncHTTPTransport(verify=_tls_context(), limits=limits, trust_env=False)
    if backend_name() == "asyncio":
        # the pool httpx builds (HTTP/1.1, no proxy), on our backend and asyncio's locks
        transport._pool = AsyncioPool(
            ssl_context=_tls_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=AsyncioBackend(),
        )
    return transport


def build_client(
    *,
    timeout: float = 30.0,
    max_connections: int = 4,
    headers: dict[str, str] | None = None,
    cookies: bool = True,
    keepalive_expiry: float = 30.0,
) -> httpx.AsyncClient:
    """An async client for one offering (or one pricing fetcher).

    Connections are kept alive, as a gateway sending real traffic would keep them; the
    ``connect`` phase is recorded on the probes that had to open one. ``cookies=False``:
    a :class:`ProbeClient` (the probes'), which keeps none.
    """
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=keepalive_expiry,
    )
    options: dict[str, Any] = {
        "timeout": httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        "headers": {"User-Agent": USER_AGENT, **(headers or {})},
        "follow_redirects": False,
        "trust_env": False,
    }
    transport = _transport(limits)
    if not cookies:
        return ProbeClient(transport, **options)
    return httpx.AsyncClient(transport=transport, **options)


def build_sync_client(*, timeout: float = 10.0) -> httpx.Client:
    """A blocking client for integrations that run in another program's thread (the
    LiteLLM callback posting passive samples): same User-Agent, TLS and no redirects."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
        verify=_tls_context(),
        trust_env=False,
    )


#: httpcore's trace events for "response headers received" (HTTP/1.1, HTTP/2)
_HEADERS_READ = (
    "http11.receive_response_headers.complete",
    "http2.receive_response_headers.complete",
)


@dataclass
class ConnectTimer:
    """An httpcore trace hook: when the request left our pool, and the connect time.

    ``first_event`` is the moment the request got a connection slot and started on the
    wire (opening a connection, or sending headers on a kept-alive one); time spent waiting
    for our own pool before that is ours, not the provider's, and is not counted.
    ``headers_at`` is the moment the response headers were read off the wire, before the
    client library builds its response object and runs its hooks.
    """

    clock: Callable[[], float] = time.perf_counter
    first_event: float | None = None
    started: float | None = None
    seconds: float | None = None
    headers_at: float | None = None

    async def __call__(self, event: str, info: dict[str, Any]) -> None:
        if self.first_event is None:
            self.first_event = self.clock()
        if event == "connection.connect_tcp.started":
            self.started = self.first_event if self.started is None else self.clock()
        elif (
            event in ("connection.connect_tcp.complete", "connection.start_tls.complete")
            and self.started is not None
        ):
            self.seconds = self.clock() - self.started
        elif event in _HEADERS_READ:
            self.headers_at = self.clock()

    def hook(self) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
        return self


class BodyTooLarge(Exception):
    """The response body passed the configured cap."""


async def read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    """Read a streamed response's (decoded) body, failing as soon as it passes ``max_bytes``.

    Counting decoded bytes also stops decompression bombs.
    """
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge(f"declared body of {declared} bytes exceeds the {max_bytes} cap")
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.aiter_bytes():
        total += len(chunk)
        if total > max_bytes:
            raise BodyTooLarge(f"body exceeds the {max_bytes} byte cap")
        chunks.append(chunk)
    return b"".join(chunks)


def classify_transport_error(exc: BaseException) -> tuple[Outcome, str]:
    """Map an httpx exception to an outcome and a short reason (no URLs, no headers)."""
    name = type(exc).__name__
    if isinstance(exc, httpx.ConnectTimeout):
        # no TCP or TLS connection within the connect timeout: the network failed us
        return Outcome.CONNECT_ERROR, "connect timed out (TCP or TLS handshake)"
    if isinstance(exc, httpx.TimeoutException):
        return Outcome.TIMEOUT, f"{name}"
    if isinstance(exc, httpx.ConnectError):
        return Outcome.CONNECT_ERROR, f"{name}: {_first_line(exc)}"
    if isinstance(exc, BodyTooLarge):
        return Outcome.PROTOCOL_ERROR, str(exc)
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return Outcome.PROTOCOL_ERROR, f"{name}: {_first_line(exc)}"
    if isinstance(exc, httpx.DecodingError):
        return Outcome.PROTOCOL_ERROR, f"{name}: undecodable body"
    if isinstance(exc, httpx.TooManyRedirects):
        return Outcome.PROTOCOL_ERROR, name
    if isinstance(exc, httpx.TransportError):
        return Outcome.CONNECT_ERROR, f"{name}: {_first_line(exc)}"
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return Outcome.BAD_REQUEST, f"{name}: {_first_line(exc)}"
    return Outcome.PROTOCOL_ERROR, f"{name}: {_first_line(exc)}"


def _first_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


def retry_after_seconds(headers: httpx.Headers, *, now: dt.datetime | None = None) -> float | None:
    """Seconds from ``Retry-After`` or OpenAI's ``retry-after-ms``.

    ``Retry-After`` is either delay-seconds or an HTTP date (RFC 9110, section 10.2.3); a
    date is turned into the seconds left from ``now`` (the wall clock), never negative.
    """
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


#: an account that must pay: providers' billing, credit and balance answers
_BILLING = re.compile(r"billing|credit|balance|payment|top[ _-]?up|spend[ _-]?limit", re.I)
_QUOTA = re.compile(r"quota", re.I)


def account_problem(status: int, text: str) -> str | None:
    """Which account problem a 401/402/403 answer shows: key, permission, billing or quota.

    Any 402 is billing; a refusal whose text speaks of billing, credit or balance is billing
    whatever its status (fal's "User is locked. Reason: Exhausted balance" is a 403); then
    quota; otherwise a 401 is the key and a 403 a permission. None for other statuses.
    """
    if status not in (401, 402, 403):
        return None
    if status == 402 or _BILLING.search(text):
        return "billing"
    if _QUOTA.search(text):
        return "quota"
    return "key" if status == 401 else "permission"


def account_message(problem: str, detail: str) -> str:
    """The error text of an account problem: the kind first, so a person sees what to fix."""
    return f"account problem ({problem}): {detail}"


def status_outcome(status: int) -> Outcome:
    """The outcome an HTTP status alone suggests: the one ladder every protocol refines.

    A protocol's ``classify`` reads its own error envelope first (a Gemini bad key is a
    400, an OpenAI ``insufficient_quota`` is a 429) and falls back to this. 404 and 410 are
    ``model_unavailable`` only on the call that names the model; a caller polling a job URL
    must not use this ladder for them.
    """
    if status in (401, 402, 403):
        # 402: payment required (billing) is an account problem, ours to fix
        return Outcome.AUTH_ERROR
    if status in (404, 410):
        return Outcome.MODEL_UNAVAILABLE
    if status == 408:
        return Outcome.TIMEOUT
    if status == 429:
        return Outcome.RATE_LIMITED
    if status >= 500:
        return Outcome.SERVER_ERROR
    if 400 <= status < 500:
        return Outcome.BAD_REQUEST
    return Outcome.PROTOCOL_ERROR
