"""Fetching one pricing page or file: conditional, capped, and never off the source's host.

:func:`fetch` sends one GET (plus at most :data:`MAX_REDIRECTS` redirects that stay on the
configured URL's scheme, host and port) with ``If-None-Match`` / ``If-Modified-Since`` from
the last good read. It never raises for network or HTTP trouble: the answer is a
:class:`FetchResult` that is ``ok`` (a body), ``not_modified`` (304: keep the last good
prices) or ``failed`` with a short error, free of secrets, that says whether a retry could
help. It never follows a URL found in a page body. The client comes from
:func:`monitor.http.build_client` (honest User-Agent, redirects off).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import httpx

from monitor.http import BodyTooLarge, classify_transport_error, read_capped
from monitor.secrets import scrub

MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: blocked, rate limited or a server fault: the next scheduled refresh may well succeed
_TRANSIENT = frozenset({403, 408, 425, 429})
_ACCEPT = "text/html,application/xhtml+xml,application/json,text/plain;q=0.9,*/*;q=0.8"


@dataclass(frozen=True, kw_only=True)
class FetchState:
    """Validators of the last good read of a URL, for a conditional request."""

    etag: str | None = None
    last_modified: str | None = None


class FetchStatus(StrEnum):
    OK = "ok"
    NOT_MODIFIED = "not_modified"
    FAILED = "failed"


@dataclass(frozen=True, kw_only=True)
class FetchResult:
    """One fetch: a body, "unchanged since the validators", or a failure with its reason."""

    status: FetchStatus
    #: the URL the body came from (the configured one, or a same-host redirect target)
    url: str
    text: str = ""
    http_status: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    #: why it failed: one line, secrets scrubbed, no response body
    error: str | None = None
    #: True when retrying later could help (timeouts, 403, 429, 5xx)
    transient: bool = False

    @property
    def ok(self) -> bool:
        return self.status is not FetchStatus.FAILED


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, port


def _failure(url: str, error: str, *, transient: bool, status: int | None = None) -> FetchResult:
    return FetchResult(
        status=FetchStatus.FAILED,
        url=url,
        http_status=status,
        error=scrub(error)[:500],
        transient=transient,
    )


def request_headers(headers: Mapping[str, str], state: FetchState | None) -> dict[str, str]:
    """The source's headers plus ``Accept-Language: en``, ``Accept`` and the validators."""
    out = {"Accept": _ACCEPT, "Accept-Language": "en", **headers}
    if state is not None and state.etag:
        out["If-None-Match"] = state.etag
    if state is not None and state.last_modified:
        out["If-Modified-Since"] = state.last_modified
    return out


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    headers: Mapping[str, str],
    max_bytes: int,
    state: FetchState | None,
    deadline_seconds: float = 120.0,
) -> FetchResult:
    """GET ``url`` conditionally; never raises for transport or HTTP errors.

    ``deadline_seconds`` bounds the whole exchange, redirects and body included (the
    client's own timeouts bound each read, not a server that drips bytes slowly).
    """
    try:
        async with asyncio.timeout(deadline_seconds):
            return await _fetch(client, url, request_headers(headers, state), max_bytes)
    except TimeoutError:
        return _failure(url, f"no complete answer within {deadline_seconds:g}s", transient=True)
    except BodyTooLarge as exc:
        return _failure(url, f"refused: {exc}", transient=False)
    except httpx.HTTPError as exc:
        outcome, reason = classify_transport_error(exc)
        return _failure(url, f"{outcome.value}: {reason}", transient=not outcome.permanent)


async def _fetch(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], max_bytes: int
) -> FetchResult:
    origin = _origin(httpx.URL(url))
    current = httpx.URL(url)
    for _hop in range(MAX_REDIRECTS + 1):
        request = client.build_request("GET", current, headers=headers)
        response = await client.send(request, stream=True, follow_redirects=False)
        try:
            if response.status_code not in _REDIRECTS:
                return await _answer(str(current), response, max_bytes)
            location = response.headers.get("location")
            if not location:
                return _failure(
                    str(current), "redirect without a Location", transient=False, status=302
                )
            target = current.join(location)
            if _origin(target) != origin:
                # a price must come from the configured source, never from wherever it points
                return _failure(
                    url,
                    f"refused a redirect to a foreign host {target.scheme}://{target.host}"
                    f" (HTTP {response.status_code}); only {origin[0]}://{origin[1]} is allowed",
                    transient=False,
                    status=response.status_code,
                )
            current = target
        finally:
            await response.aclose()
    return _failure(url, f"more than {MAX_REDIRECTS} redirects", transient=False)


async def _answer(url: str, response: httpx.Response, max_bytes: int) -> FetchResult:
    status = response.status_code
    if status == 304:
        return FetchResult(
            status=FetchStatus.NOT_MODIFIED,
            url=url,
            http_status=status,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
        )
    if status in _TRANSIENT or status >= 500:
        why = {403: "blocked", 429: "rate limited"}.get(status, "server error")
        return _failure(
            url, f"HTTP {status} ({why}; retried next refresh)", transient=True, status=status
        )
    if status != 200:
        return _failure(url, f"HTTP {status}", transient=False, status=status)
    body = await read_capped(response, max_bytes)
    return FetchResult(
        status=FetchStatus.OK,
        url=url,
        text=body.decode(response.charset_encoding or "utf-8", errors="replace"),
        http_status=status,
        etag=response.headers.get("etag"),
        last_modified=response.headers.get("last-modified"),
    )
