"""Configuration: a YAML file validated by pydantic, plus ``PROVMON_*`` environment settings.

Unknown keys are rejected and every error names the dotted path of the bad key. Provider
``options`` are validated by the provider's probe module (its ``Options`` model), so this
module never needs to know a provider by name. Secrets are never in the file: a provider
names the environment variable that holds its credential.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from monitor.config_checks import (
    MAX_CONFIG_BYTES,
    DuplicateKeyError,
    UniqueKeyLoader,
    capped,
    cross_reference_problems,
    decode,
    format_errors,
    iso_date,
    url_problems,
)
from monitor.config_sections import (
    _ENV,
    _ID,
    AgentsConfig,
    BudgetConfig,
    CadenceConfig,
    DiscoveryConfig,
    HealthConfig,
    LifecycleSourceConfig,
    ListenConfig,
    MetricsConfig,
    PassiveConfig,
    PositiveSeconds,
    RetentionConfig,
    RoutingConfig,
    _Strict,
)
from monitor.feeds import StatusFeedConfig
from monitor.interfaces import PriceUnit
from monitor.rates import ExpectedUsage, rates_problem
from probes import PROBES

#: ``provmon run``'s catalog when none is given: today's models
DEFAULT_CATALOG_FILE = "catalog/live.yaml"


class ConfigError(Exception):
    """A config that cannot be used; ``str()`` is one line per problem, each naming its key."""


class ScheduleConfig(_Strict):
    """How often one probe kind runs for an offering."""

    enabled: bool = True
    interval_seconds: PositiveSeconds
    jitter_seconds: Annotated[float, Field(ge=0, le=3600)] = 0.0


class Limits(_Strict):
    max_body_bytes: Annotated[int, Field(gt=0)] = 32 * 1024 * 1024
    max_image_pixels: Annotated[int, Field(gt=0)] = 64_000_000


class Defaults(_Strict):
    timeout_seconds: PositiveSeconds = 120.0
    control: ScheduleConfig = ScheduleConfig(interval_seconds=30, jitter_seconds=3)
    generate: ScheduleConfig = ScheduleConfig(interval_seconds=3600, jitter_seconds=60)
    limits: Limits = Limits()
    prompt: Annotated[str, Field(min_length=1, max_length=2000)] = (
        "a small red cube on a plain white table, studio light"
    )


class ModelConfig(_Strict):
    """A canonical model: what pricing pages call it, and whether it is still sold."""

    family: str = ""
    #: what its offerings share fate with (monitor.fate); empty: the family, else the model
    upstream: str = ""
    display_names: tuple[str, ...] = ()
    retired_after: str | None = None

    _date = field_validator("retired_after")(iso_date)


class ProviderConfig(_Strict):
    """One API surface."""

    protocol: str
    base_url: str
    credential_env: str | None = None
    credential_required: bool = True
    options: dict[str, Any] = Field(default_factory=dict)
    #: overrides applied when the catalog is pointed at the simulator (``${SIM}`` is its URL)
    simulated: dict[str, Any] = Field(default_factory=dict)

    @field_validator("protocol")
    @classmethod
    def _known_protocol(cls, value: str) -> str:
        if value not in PROBES:
            raise ValueError(f"unknown protocol {value!r}; known: {', '.join(sorted(PROBES))}")
        return value

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL")  # never echoed: it may hold a key
        return value.rstrip("/")

    @field_validator("credential_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV.match(value):
            # never echo the value: people paste the key itself here
            raise ValueError(
                "must be the name of an environment variable (A-Z, 0-9, _), "
                "not the credential itself"
            )
        return value

    def parsed_options(self) -> BaseModel:
        return PROBES[self.protocol].Options.model_validate(self.options)


class ExpectedImage(_Strict):
    width: Annotated[int, Field(gt=0, le=16384)]
    height: Annotated[int, Field(gt=0, le=16384)]
    mime: tuple[str, ...] = ("image/png", "image/jpeg", "image/webp")


class OfferingConfig(_Strict):
    """One model at one provider; its key in ``offerings`` is ``provider/model``."""

    provider_model: str
    params: dict[str, Any] = Field(default_factory=dict)
    expect: ExpectedImage
    listed_price_usd: Annotated[Decimal, Field(ge=0, le=100)] | None = None
    #: USD per unit, for offerings priced by token, megapixel or run (see monitor.catalogs)
    rates: dict[PriceUnit, Annotated[Decimal, Field(ge=0, le=100)]] = Field(default_factory=dict)
    usage: ExpectedUsage | None = None
    pricing_sources: tuple[str, ...] = ()
    timeout_seconds: PositiveSeconds | None = None
    control: ScheduleConfig | None = None
    generate: ScheduleConfig | None = None
    enabled: bool = True

    @model_validator(mode="after")
    def _rates_priceable(self) -> OfferingConfig:
        if problem := rates_problem(self.rates, self.usage, self.listed_price_usd):
            raise ValueError(problem)
        return self


class PricingSourceConfig(_Strict):
    kind: str
    #: may hold ``{provider_model}``, ``{model}`` or ``{offering}`` for per-model pages
    url: str
    interval_seconds: PositiveSeconds = 3600
    #: a price older than this is stale (default: 3 x interval, at least 6 h)
    max_age_seconds: PositiveSeconds | None = None
    simulated: dict[str, Any] = Field(default_factory=dict)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        from monitor.pricing import SOURCES

        if value not in SOURCES:
            raise ValueError(f"unknown source kind {value!r}; known: {', '.join(sorted(SOURCES))}")
        return value

    @field_validator("url")
    @classmethod
    def _source_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL")
        return value


class Config(_Strict):
    vantage: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")] = "local"
    data_dir: str = "./data"
    database_url: str | None = None
    listen: ListenConfig = ListenConfig()
    defaults: Defaults = Defaults()
    routing: RoutingConfig = RoutingConfig()
    budget: BudgetConfig = BudgetConfig()
    cadence: CadenceConfig = CadenceConfig()
    health: HealthConfig = HealthConfig()
    passive: PassiveConfig = PassiveConfig()
    agents: AgentsConfig = AgentsConfig()
    models: dict[str, ModelConfig]
    providers: dict[str, ProviderConfig]
    offerings: dict[str, OfferingConfig]
    pricing_sources: dict[str, PricingSourceConfig] = Field(default_factory=dict)
    lifecycle_sources: dict[str, LifecycleSourceConfig] = Field(default_factory=dict)
    discovery: DiscoveryConfig = DiscoveryConfig()
    #: how much /metrics says (monitor.metrics; README "Series budget")
    metrics: MetricsConfig = MetricsConfig()
    retention: RetentionConfig = RetentionConfig()
    #: provider status feeds whose incidents ask for early confirmation (monitor.feeds)
    status_feeds: dict[str, StatusFeedConfig] = Field(default_factory=dict)

    @field_validator("models", "providers", "pricing_sources", "lifecycle_sources")
    @classmethod
    def _ids(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if not _ID.match(key):
                raise ValueError(f"{key!r} is not a valid id (lowercase letters, digits, . _ -)")
        return value

    @model_validator(mode="after")
    def _offerings_resolve(self) -> Config:
        problems = []
        for name, entry in self.providers.items():
            try:
                entry.parsed_options()
            except ValidationError as exc:
                problems.extend(format_errors(exc, prefix=f"providers.{name}.options").splitlines())
        for key in self.budget.per_offering_usd:
            if key not in self.offerings:
                problems.append(f"budget.per_offering_usd.{key}: unknown offering")
        for name, lifecycle_source in self.lifecycle_sources.items():
            for provider in lifecycle_source.providers:
                if provider not in self.providers:
                    problems.append(
                        f"lifecycle_sources.{name}.providers: unknown provider {provider!r}"
                    )
        for key, offering in self.offerings.items():
            provider, sep, model = key.partition("/")
            if not sep:
                problems.append(f"offerings.{key}: key must be provider/model")
                continue
            if provider not in self.providers:
                problems.append(f"offerings.{key}: unknown provider {provider!r}")
            if model not in self.models:
                problems.append(f"offerings.{key}: unknown model {model!r}")
            for source in offering.pricing_sources:
                if source not in self.pricing_sources:
                    problems.append(f"offerings.{key}.pricing_sources: unknown source {source!r}")
        for name, feed in self.status_feeds.items():
            for component, served in feed.pairs():
                if served not in self.offerings:
                    where = f"status_feeds.{name}.components.{component}"
                    problems.append(f"{where}: unknown offering {served!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # -- derived views -------------------------------------------------------------------

    def provider_of(self, offering: str) -> str:
        return offering.partition("/")[0]

    def model_of(self, offering: str) -> str:
        return offering.partition("/")[2]

    def timeout_for(self, offering: str) -> float:
        return self.offerings[offering].timeout_seconds or self.defaults.timeout_seconds

    def schedule_for(self, offering: str, kind: str) -> ScheduleConfig:
        own: ScheduleConfig | None = getattr(self.offerings[offering], kind)
        default: ScheduleConfig = getattr(self.defaults, kind)
        return own if own is not None else default

    def enabled_offerings(self) -> list[str]:
        return [key for key, o in self.offerings.items() if o.enabled]

    def missing_credentials(self, environ: Mapping[str, str] | None = None) -> list[str]:
        """Required credential variables that are not set, one per provider in use."""
        return self.missing_credentials_for(self.enabled_offerings(), environ)

    def missing_credentials_for(
        self, offerings: list[str], environ: Mapping[str, str] | None = None
    ) -> list[str]:
        env = os.environ if environ is None else environ
        missing = []
        for name in sorted({self.provider_of(o) for o in offerings}):
            provider = self.providers[name]
            env_name = provider.credential_env
            if provider.credential_required and env_name and not env.get(env_name):
                missing.append(
                    f"providers.{name}.credential_env: environment variable {env_name} is not set"
                )
        return missing


def parse_config(data: Any, *, origin: str = "config") -> Config:
    """Validate already-loaded YAML data; raises :class:`ConfigError` naming each bad key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: the top level must be a mapping")
    lines = url_problems(data)  # checked first: credentials never reach a parsed config
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        lines += format_errors(exc).splitlines()
        lines += [p for p in cross_reference_problems(data) if p not in lines]
    if lines:
        raise ConfigError("\n".join(capped(lines)))
    return config


def load_config(path: str | Path | None = None) -> Config:
    """Load a config file, or the default (live) catalog when ``path`` is None."""
    if path is None:
        return _parse_yaml(default_catalog_text(), "default catalog")
    try:
        with Path(path).open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES // 2**20} MiB")
    try:
        text = decode(raw)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return _parse_yaml(text, str(path))


def _parse_yaml(text: str, origin: str) -> Config:
    try:
        data = yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except DuplicateKeyError as exc:
        raise ConfigError(exc.message) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise ConfigError(f"{where}not valid YAML") from None
    return parse_config(data, origin=origin)


def default_catalog_text() -> str:
    """The default catalog (today's models; ``monitor.catalogs`` names the others)."""
    return resources.files("monitor").joinpath(DEFAULT_CATALOG_FILE).read_text("utf-8")


def _substitute(value: Any, sim_url: str) -> Any:
    if isinstance(value, str):
        return value.replace("${SIM}", sim_url)
    if isinstance(value, dict):
        return {k: _substitute(v, sim_url) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, sim_url) for v in value]
    return value


def point_at_simulator(config: Config, sim_url: str, **overrides: Any) -> Config:
    """The same catalog with every provider and pricing source aimed at the simulator."""
    data = config.model_dump(mode="json")
    for provider in data["providers"].values():
        sim = _substitute(provider.pop("simulated", {}), sim_url)
        sim.pop("env", None)
        provider["options"] = {**provider["options"], **sim.pop("options", {})}
        provider.update(sim)
        provider["simulated"] = {}
    sections = ("pricing_sources", "lifecycle_sources", "status_feeds")
    for source in [entry for section in sections for entry in data[section].values()]:
        sim = _substitute(source.pop("simulated", {}), sim_url)
        source.update(sim)
        source["simulated"] = {}
    data.update(overrides)
    return parse_config(data, origin="simulated catalog")


def simulator_credentials(config: Config) -> dict[str, str]:
    """The fake credentials the simulator accepts, by environment variable name."""
    env: dict[str, str] = {}
    for provider in config.providers.values():
        env.update({str(k): str(v) for k, v in provider.simulated.get("env", {}).items()})
    return env


def json_schema() -> dict[str, Any]:
    """JSON Schema of the config file, for editors."""
    return Config.model_json_schema()
