"""Sections of the config file that stand alone (no providers, models or offerings):
health, cadence, budget, passive samples, routing, retention, listening, the lifecycle sources and
how much ``/metrics`` says.

``monitor.config`` assembles them; every error still names its dotted key.
"""

from __future__ import annotations

import itertools
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_ENV = re.compile(r"^[A-Z_][A-Z0-9_]*$")

PositiveSeconds = Annotated[float, Field(gt=0, le=86_400)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LifecycleSourceConfig(_Strict):
    """A provider's deprecation page: shutdown dates for the models of ``providers``."""

    kind: str
    url: str
    #: the providers whose offerings the page's dates apply to (the Gemini API's page
    #: is not Vertex AI's schedule)
    providers: tuple[str, ...]
    interval_seconds: PositiveSeconds = 86_400
    simulated: dict[str, Any] = Field(default_factory=dict)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        from monitor.deprecations import DEPRECATION_SOURCES

        if value not in DEPRECATION_SOURCES:
            known = ", ".join(sorted(DEPRECATION_SOURCES))
            raise ValueError(f"unknown deprecation source kind {value!r}; known: {known}")
        return value

    @field_validator("url")
    @classmethod
    def _source_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"url must be an http(s) URL, got {value!r}")
        return value


class DiscoveryConfig(_Strict):
    """Comparing the catalog with the providers' own model listings (free calls)."""

    enabled: bool = True
    interval_seconds: PositiveSeconds = 6 * 3600.0


class HealthConfig(_Strict):
    fail_threshold: Annotated[int, Field(ge=1)] = 4
    recover_threshold: Annotated[int, Field(ge=1)] = 2
    window: Annotated[int, Field(ge=1)] = 20
    min_samples: Annotated[int, Field(ge=1)] = 5
    down_error_ratio: Annotated[float, Field(gt=0, le=1)] = 0.5
    degraded_error_ratio: Annotated[float, Field(gt=0, le=1)] = 0.25
    latency_objective_seconds: PositiveSeconds | None = 60.0
    #: vantages that must agree before the combined state changes
    quorum: Annotated[int, Field(ge=1)] = 1


class CadenceConfig(_Strict):
    """How paid probes adapt: bounds of the regular interval, and how fast to confirm."""

    generate_min_interval_seconds: PositiveSeconds = 900.0
    generate_max_interval_seconds: PositiveSeconds = 4 * 3600.0
    #: an early paid probe this long after a suspect generate sample
    generate_confirm_seconds: PositiveSeconds = 30.0
    #: paid probes this often while generation is down (failed ones are not billed)
    generate_down_seconds: PositiveSeconds = 120.0
    #: a free control probe this soon after a failed one
    control_confirm_seconds: PositiveSeconds = 0.25
    #: control probes this often while an offering is down
    control_down_seconds: PositiveSeconds = 5.0

    @model_validator(mode="after")
    def _bounds(self) -> CadenceConfig:
        if self.generate_min_interval_seconds > self.generate_max_interval_seconds:
            raise ValueError("generate_min_interval_seconds is above the max")
        return self


class PassiveConfig(_Strict):
    """Samples a gateway posts from its real traffic (``POST /api/samples``)."""

    #: environment variable holding the bearer token; the endpoint is off without it
    token_env: str | None = None
    vantages: tuple[str, ...] = ()

    _token_env = field_validator("token_env")(lambda value: _token_env_name(value))


def _token_env_name(value: str | None) -> str | None:
    if value is not None and not _ENV.match(value):
        raise ValueError("must be the name of an environment variable (A-Z, 0-9, _)")
    return value


class RoutingConfig(_Strict):
    #: how often routes are re-evaluated (each evaluation is one step of hysteresis)
    evaluate_seconds: PositiveSeconds = 30.0


class RetentionConfig(_Strict):
    """How long raw probe results are kept; older hours keep only their hourly rollups
    (``provmon db prune``, and the service every ``prune_interval_seconds``)."""

    #: at least 2 days: routing's and the status page's day windows read raw results
    raw_days: Annotated[float, Field(ge=2, le=36_500)] = 14.0
    #: the service rolls up and prunes this often; false ``enabled``: only by hand
    prune_interval_seconds: Annotated[float, Field(ge=1, le=86_400)] = 3600.0
    enabled: bool = True


class ListenConfig(_Strict):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 9464
    #: environment variable with a bearer token for ``/api/*`` and the status page
    #: (default ``PROVMON_API_TOKEN``); unset: open, as fits loopback
    token_env: str | None = None

    _token_env = field_validator("token_env")(lambda value: _token_env_name(value))


Bounds = tuple[Annotated[float, Field(gt=0, le=3600)], ...]


class MetricsConfig(_Strict):
    """How much ``/metrics`` says (README "Series budget"): ``detail`` picks a level,
    the other keys override one family of it."""

    #: minimal | default (the board and the alert rules, <= 60 series per offering) | full
    detail: Literal["minimal", "default", "full"] = "default"
    #: where phase timings go: none; per provider (provmon_probe_phase_duration_seconds);
    #: per offering too (every phase in provmon_probe_duration_seconds)
    phases: Literal["none", "provider", "offering"] | None = None
    #: bucket bounds (seconds) of the per-offering total-time histogram, per probe kind;
    #: an empty list exports no histogram for that kind
    generate_buckets: Annotated[Bounds, Field(min_length=1, max_length=30)] | None = None
    control_buckets: Annotated[Bounds, Field(max_length=30)] | None = None
    #: count a control probe's error outcomes as outcome="error"
    fold_outcomes: bool | None = None
    #: export provmon_probe_timeout_seconds per offering and kind
    timeouts: bool | None = None
    #: the scrape-time gauges (prices, budget, states, routes ...) are read at the scrape
    #: while that takes under this much CPU; above, a scrape sends the last read's and a worker
    #: reads them again (then they are at most one scrape interval old)
    gauges_inline_ms: Annotated[float, Field(ge=0, le=60_000)] = 5.0
    #: ... but never older than this: past it, the scrape reads them itself
    gauges_max_age_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0

    @field_validator("generate_buckets", "control_buckets")
    @classmethod
    def _increasing(cls, value: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if value is not None and any(b <= a for a, b in itertools.pairwise(value)):
            raise ValueError("bucket bounds must be strictly increasing")
        return value


class AgentsConfig(_Strict):
    """Several agents of one vantage sharing a PostgreSQL database split its offerings by
    lease (``monitor.shards``); with SQLite one agent owns everything."""

    #: split by lease: None = whenever the database is PostgreSQL
    split: bool | None = None
    #: offerings are hashed into this many shards; each agent holds whole shards
    shards: Annotated[int, Field(ge=1, le=4096)] = 32
    #: a lease not renewed for this long is taken over by the other agents
    lease_ttl_seconds: Annotated[float, Field(ge=2, le=3600)] = 15.0
    #: how often an agent renews its leases and re-balances (default: a quarter of the TTL)
    renew_seconds: PositiveSeconds | None = None

    @model_validator(mode="after")
    def _renew_within_ttl(self) -> AgentsConfig:
        if self.renew_seconds is not None and self.renew_seconds * 2 > self.lease_ttl_seconds:
            raise ValueError("renew_seconds must be at most half of lease_ttl_seconds")
        return self

    @property
    def renew_every(self) -> float:
        return self.renew_seconds or self.lease_ttl_seconds / 4


class BudgetConfig(_Strict):
    """What the monitor may spend on its own paid probes, per UTC day."""

    daily_usd: Annotated[Decimal, Field(ge=0)] | None = None
    #: the cap of every offering without its own entry below ($1 = 25 Imagen 4 probes)
    offering_daily_usd: Annotated[Decimal, Field(ge=0)] | None = Decimal(1)
    per_offering_usd: dict[str, Annotated[Decimal, Field(ge=0)]] = Field(default_factory=dict)
    #: the share of each cap kept for confirming a suspected outage sooner
    confirm_share: Annotated[Decimal, Field(ge=0, le=1)] = Decimal("0.3")
