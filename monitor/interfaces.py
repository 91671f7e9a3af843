"""The contracts every part of provmon shares: outcomes, phases, probe results, price quotes.

Probe modules (``probes/``, the ``Probe`` protocol in ``monitor/probe_context.py``) and
pricing sources (``monitor/pricing/``) produce these values; the runner, store, metrics and
engines consume them. Values are frozen keyword-only dataclasses; enums are closed sets that
become metric labels. This module imports no other part of provmon.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


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
class Usage:
    """What one answer reported it consumed: the basis of the probe's measured cost.

    A probe fills in what its provider reports and leaves the rest ``None``: token counts
    (Gemini ``usageMetadata``, OpenAI ``usage``), output megapixels, or a cost the provider
    computed itself (OpenRouter ``usage.cost``), which then wins over any rate arithmetic.
    """

    images: int = 1
    input_tokens: int | None = None
    input_image_tokens: int | None = None
    #: text output, thinking tokens included (billed at the text-output rate)
    output_text_tokens: int | None = None
    output_image_tokens: int | None = None
    megapixels: Decimal | None = None
    reported_cost_usd: Decimal | None = None

    def as_dict(self) -> dict[str, str | int]:
        """The fields that are set, as JSON-safe values (Decimals as strings)."""
        out: dict[str, str | int] = {}
        for name in _USAGE_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = str(value) if isinstance(value, Decimal) else int(value)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Usage:
        kwargs: dict[str, object] = {}
        for name in _USAGE_FIELDS:
            value = data.get(name)
            if value is None:
                continue
            decimal = name in ("megapixels", "reported_cost_usd")
            kwargs[name] = Decimal(str(value)) if decimal else int(str(value))
        return cls(**kwargs)  # type: ignore[arg-type]


_USAGE_FIELDS = (
    "images",
    "input_tokens",
    "input_image_tokens",
    "output_text_tokens",
    "output_image_tokens",
    "megapixels",
    "reported_cost_usd",
)


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
    #: what the answer reported it consumed (tokens, megapixels, a cost), when it did
    usage: Usage | None = None
    #: the cost of this probe from its usage at the listed rates (or the provider's own
    #: reported cost); None when the answer reported no usage
    measured_cost_usd: Decimal | None = None
    #: the model the answer says served it (``modelVersion``, Replicate ``model``, ...)
    served_model: str | None = None


@dataclass(frozen=True, kw_only=True)
class GatewayOption:
    """A non-secret field a gateway needs, read from the provider's ``options``."""

    #: the gateway's key (``vertex_project``)
    key: str
    #: the provider option it is read from (``project``)
    option: str
    #: used when the option is unset: a value, or a reference the gateway resolves
    default: str


@dataclass(frozen=True, kw_only=True)
class GatewayNames:
    """What API gateways call one wire protocol, declared on its probe class.

    ``None`` means the gateway cannot route to the protocol, and its exported config leaves
    such offerings out (say why where the probe declares it).
    """

    #: LiteLLM provider prefix: the model is ``<prefix>/<provider_model>``
    litellm: str | None = None
    #: the ``litellm_params`` key that takes the credential reference
    litellm_credential: str = "api_key"
    litellm_options: tuple[GatewayOption, ...] = ()
    #: OpenRouter provider slug (``provider.order``)
    openrouter: str | None = None
    #: Portkey ``provider``
    portkey: str | None = None
    portkey_options: tuple[GatewayOption, ...] = ()
    #: an OpenAI-compatible reseller: gateways need its base URL (LiteLLM ``api_base``,
    #: Portkey ``custom_host``)
    needs_base_url: bool = False


class PriceUnit(StrEnum):
    """What a listed rate is per. Token rates are per single token (a "$30 per 1M image
    output tokens" listing is stored as 0.00003 per ``image_output_token``)."""

    IMAGE = "image"
    MEGAPIXEL = "megapixel"
    SECOND = "second"
    #: a flat charge per prediction, beside a per-megapixel rate (Replicate's FLUX.2)
    RUN = "run"
    #: text output tokens, thinking tokens included
    OUTPUT_TOKEN = "output_token"  # noqa: S105 (a unit name)
    IMAGE_OUTPUT_TOKEN = "image_output_token"  # noqa: S105
    #: text input tokens (the prompt)
    INPUT_TOKEN = "input_token"  # noqa: S105


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


@dataclass(frozen=True, kw_only=True)
class ListedModel:
    """One model in a provider's own model listing (a free call), as discovery reads it."""

    #: the provider's own id for it (an offering's ``provider_model``)
    model: str
    #: an image-generation model (by the listing's own modality field where it has one)
    image: bool
    #: the listed price of one image, when the listing gives one
    price_usd: Decimal | None = None
    #: the listing marks it deprecated (fal's ``status``)
    deprecated: bool = False
    #: a shutdown date the listing gives (OpenAI's ``shutdown_date``)
    shutdown_at: dt.datetime | None = None


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
    #: our account is at fault for the offering (issue 14): ours to fix, not an outage
    ACCOUNT_PROBLEM = "account_problem"
    #: a status feed's active incident covers the offering (issue 17)
    STATUS_FEED_INCIDENT = "status_feed_incident"
    #: listed vs measured cost of one image (``basis`` label)
    COST_PER_IMAGE = "cost_per_image"
    # model lifecycle (monitor.catalog_watch)
    LIFECYCLE = "lifecycle"
    SHUTDOWN_AT = "shutdown_at"
    CATALOG_UNLISTED = "catalog_unlisted"
    CATALOG_NEW_MODELS = "catalog_new_models"
    LIFECYCLE_SOURCE_SUCCESS = "lifecycle_source_success"


@dataclass(frozen=True, kw_only=True)
class GaugeRow:
    """One sample of a gauge read at scrape time. Label values come from the config or
    from enums, never from free text."""

    name: Gauge
    labels: dict[str, str]
    value: float
