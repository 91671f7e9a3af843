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
