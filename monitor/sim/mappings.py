"""WireMock stub mappings: replay any recorded provider answer through the simulator.

The format and field names are WireMock's own (https://wiremock.org/docs/stubbing/,
https://wiremock.org/docs/request-matching/), so mappings a user already has drop in:

- ``request``: ``method`` (or ``ANY``); at most one of ``url`` (path and query, equal),
  ``urlPath`` (path, equal), ``urlPattern`` (regex over path and query), ``urlPathPattern``
  (regex over the path); ``headers`` / ``queryParameters`` with ``equalTo`` (optionally
  ``caseInsensitive``), ``matches``, ``contains`` or ``absent``. Regexes match the whole
  value, as Java's ``String.matches`` does in WireMock.
- ``response``: ``status``, ``headers``, one of ``jsonBody`` / ``body`` / ``base64Body``,
  ``fixedDelayMilliseconds``; ``transformers: ["response-template"]`` substitutes
  ``{{request.baseUrl}}`` (only that helper) so an answer can point back at the simulator.
- ``priority``: 1 is the highest; unset is WireMock's default, 5. Among equal priorities
  the newest mapping wins.

Paths are the simulator's full paths, provider prefix included (``/fal/queue/...``). A
matched mapping is served instead of the fake's answer; anything unmatched falls through to
the fakes, so one mapping can replace one step of a multi-step protocol.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import threading
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.datastructures import Headers, QueryParams
from starlette.requests import Request
from starlette.responses import Response

#: WireMock's priority for a mapping that gives none (``StubMapping.DEFAULT_PRIORITY``)
DEFAULT_PRIORITY = 5
_URL_FIELDS = ("url", "urlPath", "urlPattern", "urlPathPattern")
_TEMPLATE = "response-template"


class ValueMatcher(BaseModel):
    """One WireMock value pattern: give exactly one of equalTo, matches, contains, absent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    equalTo: str | None = None  # WireMock's field names, camelCase
    caseInsensitive: bool = False
    matches: str | None = None
    contains: str | None = None
    absent: bool | None = None

    @model_validator(mode="after")
    def _one(self) -> ValueMatcher:
        given = [
            f for f in ("equalTo", "matches", "contains", "absent") if getattr(self, f) is not None
        ]
        if len(given) != 1:
            raise ValueError("give exactly one of equalTo, matches, contains, absent")
        if self.matches is not None:
            _compile(self.matches)
        return self

    def test(self, value: str | None) -> bool:
        if self.absent is not None:
            return (value is None) == self.absent
        if value is None:
            return False
        if self.equalTo is not None:
            if self.caseInsensitive:
                return value.casefold() == self.equalTo.casefold()
            return value == self.equalTo
        if self.matches is not None:
            return re.fullmatch(self.matches, value) is not None
        return self.contains is not None and self.contains in value


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"bad regex {pattern!r}: {exc}") from None


class RequestPattern(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str = "ANY"
    url: str | None = None
    urlPath: str | None = None
    urlPattern: str | None = None
    urlPathPattern: str | None = None
    headers: dict[str, ValueMatcher] = Field(default_factory=dict)
    queryParameters: dict[str, ValueMatcher] = Field(default_factory=dict)

    @field_validator("method")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @model_validator(mode="after")
    def _one_url(self) -> RequestPattern:
        given = [f for f in _URL_FIELDS if getattr(self, f) is not None]
        if len(given) > 1:
            raise ValueError(f"give at most one of {', '.join(_URL_FIELDS)}; got {given}")
        for name in ("urlPattern", "urlPathPattern"):
            if (pattern := getattr(self, name)) is not None:
                _compile(pattern)
        return self

    def test(
        self, method: str, path: str, query: str, headers: Headers, params: QueryParams
    ) -> bool:
        if self.method != "ANY" and self.method != method.upper():
            return False
        full = f"{path}?{query}" if query else path
        if self.url is not None and full != self.url:
            return False
        if self.urlPath is not None and path != self.urlPath:
            return False
        if self.urlPattern is not None and re.fullmatch(self.urlPattern, full) is None:
            return False
        if self.urlPathPattern is not None and re.fullmatch(self.urlPathPattern, path) is None:
            return False
        return all(m.test(headers.get(k)) for k, m in self.headers.items()) and all(
            m.test(params.get(k)) for k, m in self.queryParameters.items()
        )


class ResponseDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    status: Annotated[int, Field(ge=100, le=599)] = 200
    headers: dict[str, str] = Field(default_factory=dict)
    jsonBody: Any = None
    body: str | None = None
    base64Body: str | None = None
    fixedDelayMilliseconds: Annotated[int, Field(ge=0, le=600_000)] | None = None
    transformers: list[Literal["response-template"]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_body(self) -> ResponseDefinition:
        given = [f for f in ("jsonBody", "body", "base64Body") if getattr(self, f) is not None]
        if len(given) > 1:
            raise ValueError(f"give at most one of jsonBody, body, base64Body; got {given}")
        if self.base64Body is not None:
            try:
                base64.b64decode(self.base64Body, validate=True)
            except binascii.Error:
                raise ValueError("base64Body is not valid base64") from None
        return self

    def content(self, base_url: str) -> bytes:
        if self.base64Body is not None:
            return base64.b64decode(self.base64Body)
        text = json.dumps(self.jsonBody) if self.jsonBody is not None else self.body or ""
        if _TEMPLATE in self.transformers:
            text = text.replace("{{request.baseUrl}}", base_url)
        return text.encode()


class Mapping(BaseModel):
    """One WireMock stub mapping (``id`` is assigned when missing).

    WireMock's export fields that change no answer (``uuid``, ``persistent``, ``metadata``)
    are accepted, so exported mappings drop in; a field that would change matching and is
    not supported here (``bodyPatterns``, ``scenarioName``...) is refused, never ignored.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    uuid: str | None = None
    name: str | None = None
    priority: Annotated[int, Field(ge=1)] | None = None
    persistent: bool | None = None
    metadata: dict[str, Any] | None = None
    request: RequestPattern
    response: ResponseDefinition

    @model_validator(mode="before")
    @classmethod
    def _id_from_uuid(cls, data: Any) -> Any:
        if isinstance(data, dict) and "id" not in data and isinstance(data.get("uuid"), str):
            return {**data, "id": data["uuid"]}
        return data

    @property
    def rank(self) -> int:
        return DEFAULT_PRIORITY if self.priority is None else self.priority


class MappingStore:
    """The live mappings, thread-safe (control calls and requests come from any thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mappings: list[Mapping] = []  # oldest first

    def add(self, mapping: Mapping) -> None:
        with self._lock:
            self._mappings = [m for m in self._mappings if m.id != mapping.id] + [mapping]

    def replace(self, mappings: list[Mapping]) -> None:
        with self._lock:
            self._mappings = list(mappings)

    def remove(self, mapping_id: str) -> bool:
        with self._lock:
            kept = [m for m in self._mappings if m.id != mapping_id]
            found = len(kept) != len(self._mappings)
            self._mappings = kept
        return found

    def all(self) -> list[Mapping]:
        with self._lock:
            return list(self._mappings)

    def __bool__(self) -> bool:
        return bool(self._mappings)  # one reference read: no lock needed for a hint

    def match(self, request: Request) -> Mapping | None:
        """The mapping to serve: the highest priority (lowest number), then the newest."""
        with self._lock:
            candidates = list(enumerate(self._mappings))
        best: tuple[int, int, Mapping] | None = None
        for added, mapping in candidates:
            if not mapping.request.test(
                request.method,
                request.url.path,
                request.url.query,
                request.headers,
                request.query_params,
            ):
                continue
            key = (-mapping.rank, added)
            if best is None or key > best[:2]:
                best = (*key, mapping)
        return None if best is None else best[2]


async def respond(mapping: Mapping, request: Request) -> Response:
    """Render a matched mapping's response (after its fixed delay)."""
    answer = mapping.response
    if answer.fixedDelayMilliseconds:
        await asyncio.sleep(answer.fixedDelayMilliseconds / 1000)
    base_url = str(request.base_url).rstrip("/")
    return Response(answer.content(base_url), status_code=answer.status, headers=answer.headers)


class MappingsMiddleware:
    """Serve a matching mapping before any fake; ``/_sim`` itself is never mapped."""

    def __init__(self, app: Any, store: MappingStore) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # no mappings (the usual case): no request object, no lock, nothing added per request
        if self.store and scope["type"] == "http" and not scope["path"].startswith("/_sim"):
            request = Request(scope, receive)
            mapping = self.store.match(request)
            if mapping is not None:
                await request.body()  # read it, so the connection stays usable
                await (await respond(mapping, request))(scope, receive, send)
                return
        await self.app(scope, receive, send)
