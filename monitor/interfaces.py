"""The contracts every part of provmon shares: outcomes, phases, probe results, price quotes.

Probe modules (``probes/``) and pricing sources (``monitor/pricing/``) implement the
protocols here; the runner, store, metrics and engines consume the values. Values are
frozen keyword-only dataclasses; enums are closed sets that become metric labels.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar, Protocol

from pydantic import BaseModel

if TYPE_CHECKING:
    from monitor.probe_context import ProbeContext


class Outcome(StrEnum):
    """The only status a probe can have (DESIGN.md, "Outcomes")."""

    OK = "ok"
    TIMEOUT = "timeout"
    CONNECT_ERROR = "connect_error"
    AUTH_ERROR = "auth_error"
    RATE_LIMITED = "rate_limited"
    BAD_REQUEST = "bad_request"
    SERVER_ERROR = "server_error"
    CONTENT_FILTERED = "content_filtered"
    INVALID_OUTPUT = "invalid_output"
    MODEL_UNAVAILABLE = "model_unavailable"
    PROTOCOL_ERROR = "protocol_error"

    @property
    def permanent(self) -> bool:
        """True when retrying the same probe cannot help (the probe or the model is wrong)."""
        return self in _PERMANENT


_PERMANENT = frozenset({Outcome.AUTH_ERROR, Outcome.BAD_REQUEST, Outcome.MODEL_UNAVAILABLE})


class Phase(StrEnum):
    """A timed part of a probe."""

    CONNECT = "connect"
    TTFB = "ttfb"
    QUEUE = "queue"
    INFERENCE = "inference"
    DOWNLOAD = "download"
    TOTAL = "total"


class Kind(StrEnum):
    """``generate`` sends a real, billed generation; ``control`` is a free reachability call."""

    GENERATE = "generate"
    CONTROL = "control"


class ProbeFailure(Exception):
    """Raised by a probe adapter when the provider's answer is a failure.

    The adapter classifies; the runner records. ``message`` may contain provider text and is
    scrubbed of secrets before it is stored or logged.
    """

    def __init__(
        self,
        outcome: Outcome,
        message: str,
        *,
        http_status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message
        self.http_status = http_status
        self.retry_after_s = retry_after_s

    @property
    def permanent(self) -> bool:
        return self.outcome.permanent


@dataclass(frozen=True, kw_only=True)
class ImageInfo:
    """What the runner found when it decoded the returned image."""

    mime: str
    width: int
    height: int
    size_bytes: int


@dataclass(frozen=True, kw_only=True)
class ProbeResult:
    """One finished probe. Produced only by the runner."""

    probe_id: str
    offering: str
    provider: str
    model: str
    vantage: str
    kind: Kind
    outcome: Outcome
    started_at: dt.datetime
    phases: Mapping[Phase, float]
    failed_phase: Phase | None = None
    http_status: int | None = None
    provider_request_id: str | None = None
    image: ImageInfo | None = None
    cost_usd: Decimal = Decimal(0)
    error: str | None = None
    retry_after_s: float | None = None
    cancelled: bool = False


class Probe(Protocol):
    """One wire protocol. Implementations live in ``probes/`` and are listed in ``PROBES``.

    A probe knows wire formats only: it builds the request, reads the answer and classifies
    failures by raising :class:`ProbeFailure`. It must not catch httpx exceptions (the runner
    maps them), sleep without ``ctx.sleep``, touch the database or metrics, or keep state
    between calls beyond caches of credentials.
    """

    #: pydantic model validating the provider's ``options`` block in the config
    Options: ClassVar[type[BaseModel]]

    async def generate(self, ctx: ProbeContext) -> bytes:
        """Ask for one image with the offering's parameters; return its encoded bytes."""
        ...

    async def control(self, ctx: ProbeContext) -> None:
        """Free call proving reachability, auth and that the model still exists."""
        ...


class PriceUnit(StrEnum):
    IMAGE = "image"
    MEGAPIXEL = "megapixel"
    SECOND = "second"


@dataclass(frozen=True, kw_only=True)
class PriceQuote:
    """A listed price as read from one source."""

    offering: str
    amount: Decimal
    currency: str
    unit: PriceUnit
    source: str
    observed_at: dt.datetime
    evidence: str
    source_url: str = ""
    listed_text: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)


class PriceParseError(Exception):
    """A pricing page could not be read as the source expects (never a price of zero)."""


# -- what engines give the metrics module (numbers; monitor/metrics.py gives the names) ---


class State(StrEnum):
    """An offering's health (DESIGN.md, "state"); ``monitor.health`` decides it."""

    UNKNOWN = "unknown"
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    RETIRED = "retired"


@dataclass(frozen=True, kw_only=True)
class StateRow:
    """One offering's current state at one vantage (``provmon_offering_state``)."""

    offering: str
    provider: str
    model: str
    vantage: str
    state: State


class Gauge(StrEnum):
    """What a scrape-time gauge row measures. Engines give these and a number;
    ``monitor.metrics`` gives each its ``provmon_*`` name and help text."""

    PRICE = "price"
    PRICE_FETCH_SUCCESS = "price_fetch_success"
    PRICE_FETCH_LAST_SUCCESS = "price_fetch_last_success"
    PRICE_STALE = "price_stale"
    PRICE_DISAGREEMENT = "price_disagreement"
    ROUTE_RANK = "route_rank"
    ROUTE_WEIGHT = "route_weight"
    EFFECTIVE_COST = "effective_cost"
    BUDGET = "budget"
    BUDGET_REMAINING = "budget_remaining"
    DATABASE_UP = "database_up"


@dataclass(frozen=True, kw_only=True)
class GaugeRow:
    """One sample of a gauge read at scrape time. Label values come from the config or
    from enums, never from free text."""

    name: Gauge
    labels: dict[str, str]
    value: float
