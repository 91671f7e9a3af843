"""What a probe adapter is (:class:`Probe`) and what the runner hands it (:class:`ProbeContext`):
the offering, a client, the deadline and phase clock.

Adapters send every request through :meth:`ProbeContext.send` (times ``connect`` and
``ttfb``, caps the body), download images through :meth:`ProbeContext.download` (times
``download``), wait through :meth:`ProbeContext.sleep` (never past the deadline) and report
provider-side timings with :meth:`ProbeContext.record`. The runner owns the deadline.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ClassVar, Protocol

import httpx
from pydantic import BaseModel

from monitor.http import ConnectTimer, ProbeClient, read_capped
from monitor.interfaces import GatewayNames, Kind, Outcome, Phase, ProbeFailure, Usage


@lru_cache(maxsize=16384)
def _parsed(url: str) -> httpx.URL:
    """A control probe's URL parsed once (parsing is a tenth of httpx's work on a small
    request): an offering's control probe asks for the same URL again and again (a
    generate probe's polling URLs are new each time, and are not kept)."""
    return httpx.URL(url)


@dataclass
class ProbeContext:
    offering: str
    provider: str
    model: str
    provider_model: str
    kind: Kind
    base_url: str
    options: BaseModel
    params: dict[str, Any]
    prompt: str
    expect_width: int
    expect_height: int
    client: httpx.AsyncClient
    deadline: float
    secret: str | None = None
    max_body_bytes: int = 32 * 1024 * 1024
    clock: Callable[[], float] = time.perf_counter
    phases: dict[Phase, float] = field(default_factory=dict)
    #: the phase a timeout would be reported against; until the first byte it is ``ttfb``
    current_phase: Phase = Phase.TTFB
    http_status: int | None = None
    request_id: str | None = None
    #: what the answer reported it consumed; set by probes whose providers report it, also
    #: on a failure that is still billed (a filtered answer's input tokens)
    usage: Usage | None = None
    #: the model the answer names as having served it, when it names one
    served_model: str | None = None
    cleanups: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    # -- time ------------------------------------------------------------------------------

    def time_left(self) -> float:
        return self.deadline - self.clock()

    def _timeout(self) -> httpx.Timeout:
        left = max(0.001, self.time_left())
        return httpx.Timeout(left, connect=min(left, 10.0))

    def record(self, phase: Phase, seconds: float) -> None:
        """Record a phase measured elsewhere (e.g. a provider's reported inference time)."""
        self.phases[phase] = self.phases.get(phase, 0.0) + max(0.0, seconds)

    @asynccontextmanager
    async def phase(self, phase: Phase) -> AsyncIterator[None]:
        """Time a block as ``phase``; a timeout inside it is reported against that phase."""
        previous = self.current_phase
        self.current_phase = phase
        start = self.clock()
        try:
            yield
        finally:
            self.record(phase, self.clock() - start)
        self.current_phase = previous

    async def sleep(self, seconds: float) -> None:
        """Sleep, but never past the deadline (the runner's timeout then fires)."""
        await asyncio.sleep(max(0.0, min(seconds, self.time_left() + 0.001)))

    def on_deadline(self, cleanup: Callable[[], Awaitable[None]]) -> None:
        """Register a call to make if the deadline passes (e.g. cancel a queued job)."""
        self.cleanups.append(cleanup)

    # -- HTTP ------------------------------------------------------------------------------

    async def send(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        timed: bool = True,
        timeout: float | None = None,
    ) -> httpx.Response:
        """Send one request and read its body (capped).

        The first timed request of a probe records ``connect`` (when a new connection was
        opened) and ``ttfb`` (request start to response headers). ``timeout`` replaces the
        time left, for clean-ups that run after the deadline (cancelling a queued job).
        """
        timer = ConnectTimer(clock=self.clock)
        client = self.client
        target = _parsed(url) if self.kind == Kind.CONTROL else url
        limit = self._timeout() if timeout is None else httpx.Timeout(timeout)
        # a client of our own (the runner's): the short way
        fast = client if isinstance(client, ProbeClient) and client.plain else None
        build = fast.probe_request if fast is not None else client.build_request
        request = build(
            method,
            target,
            json=json,
            headers=headers,
            params=params,
            timeout=limit,
            extensions={"trace": timer},
        )
        first = timed and Phase.TTFB not in self.phases
        previous = self.current_phase
        if first:
            self.current_phase = Phase.TTFB
        start = self.clock()
        if fast is not None:
            response = await fast.probe_send(request)
        else:
            response = await client.send(request, stream=True)
        try:
            if first:
                began = timer.first_event if timer.first_event is not None else start
                ended = timer.headers_at if timer.headers_at is not None else self.clock()
                self.phases[Phase.TTFB] = ended - began
                if timer.seconds is not None:
                    self.phases[Phase.CONNECT] = timer.seconds
            self.http_status = response.status_code
            # what ``aread`` would keep (decoded), capped: the answer stays as it came, so
            # ``.json()`` works and its headers still say how it was sent (a new Response
            # carrying ``Content-Encoding: gzip`` would decode the decoded body again)
            response._content = await read_capped(response, self.max_body_bytes)
        finally:
            await response.aclose()
        self.current_phase = previous
        return response

    async def download(self, url: str, *, headers: dict[str, str] | None = None) -> bytes:
        """GET an image URL the provider returned; timed as ``download``.

        A ``data:`` URI (Replicate's sync mode, fal's ``sync_mode``) already holds the image:
        it is decoded, never fetched, and its ``download`` time is 0.
        """
        if url[:5].lower() == "data:":
            self.record(Phase.DOWNLOAD, 0.0)
            return self._decode_data_uri(url)
        async with self.phase(Phase.DOWNLOAD):
            request = self.client.build_request(
                "GET", url, headers=headers, timeout=self._timeout()
            )
            response = await self.client.send(request, stream=True, follow_redirects=True)
            try:
                if response.status_code != 200:
                    outcome = (
                        Outcome.SERVER_ERROR
                        if response.status_code >= 500
                        else Outcome.INVALID_OUTPUT
                    )
                    raise ProbeFailure(
                        outcome,
                        f"image download answered HTTP {response.status_code}",
                        http_status=response.status_code,
                    )
                return await read_capped(response, self.max_body_bytes)
            finally:
                await response.aclose()

    def _decode_data_uri(self, uri: str) -> bytes:
        """The bytes of ``data:[<type>][;base64],<data>`` (RFC 2397), capped like a body."""
        header, comma, payload = uri[5:].partition(",")
        if not comma:
            raise ProbeFailure(Outcome.INVALID_OUTPUT, "output data URI has no comma")
        # base64 grows 4/3: refuse before decoding what would pass the cap
        if len(payload) > self.max_body_bytes * 4 // 3 + 4:
            raise ProbeFailure(
                Outcome.PROTOCOL_ERROR, f"data URI exceeds the {self.max_body_bytes} byte cap"
            )
        if header.lower().endswith(";base64"):
            try:
                return base64.b64decode(payload, validate=True)
            except (binascii.Error, ValueError):
                raise ProbeFailure(
                    Outcome.INVALID_OUTPUT, "output data URI is not valid base64"
                ) from None
        return urllib.parse.unquote_to_bytes(payload)

    def json_body(self, response: httpx.Response) -> Any:
        """The response as JSON, or a ``protocol_error`` naming what came instead."""
        try:
            return response.json()
        except ValueError:
            kind = response.headers.get("content-type", "no content type")
            raise ProbeFailure(
                Outcome.PROTOCOL_ERROR,
                f"HTTP {response.status_code} body is not JSON ({kind})",
                http_status=response.status_code,
            ) from None


class Probe(Protocol):
    """One wire protocol. Implementations live in ``probes/`` and are listed in ``PROBES``.

    A probe knows wire formats only: it builds the request, reads the answer and classifies
    failures by raising :class:`ProbeFailure`. It must not catch httpx exceptions (the runner
    maps them), sleep without ``ctx.sleep``, touch the database or metrics, or keep state
    between calls beyond caches of credentials.
    """

    #: pydantic model validating the provider's ``options`` block in the config
    Options: ClassVar[type[BaseModel]]
    #: what gateways call this protocol (``monitor/exports.py`` reads it)
    gateways: ClassVar[GatewayNames]
    #: the simulator fake that answers as this provider: its name in scenario targets
    #: (``<fake>:<model>``) and in a ``FAKES`` entry's prefixes (``monitor/sim/app.py``)
    fake: ClassVar[str]

    async def generate(self, ctx: ProbeContext) -> bytes:
        """Ask for one image with the offering's parameters; return its encoded bytes."""
        ...

    async def control(self, ctx: ProbeContext) -> None:
        """Free call proving reachability, auth and that the model still exists."""
        ...
