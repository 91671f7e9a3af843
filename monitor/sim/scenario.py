"""Scenarios: how the fake providers behave, per provider and model, and how that changes.

A scenario maps target patterns (``provider:model`` with shell wildcards, e.g.
``openai:*`` or ``fal:fal-ai/imagen4/*``) to a :class:`Behaviour`. Every matching pattern
applies, the more specific ones last. Outage windows and ``/_sim`` overrides sit on top.
Each fake asks :meth:`SimState.decide` once per billable request and renders the answer in
its own provider's envelope.
"""

from __future__ import annotations

import fnmatch
import random
import threading
import time
from collections import Counter
from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from monitor.sim.mappings import Mapping, MappingStore


class Dist(BaseModel):
    """A latency distribution in seconds: give exactly one of the fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fixed: Annotated[float, Field(ge=0)] | None = None
    uniform: tuple[float, float] | None = None
    normal: tuple[float, float] | None = None
    lognormal: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _one(self) -> Dist:
        given = [f for f in ("fixed", "uniform", "normal", "lognormal") if getattr(self, f)]
        if len(given) > 1:
            raise ValueError("give one of fixed, uniform, normal, lognormal")
        return self

    def sample(self, rng: random.Random) -> float:
        if self.uniform:
            return rng.uniform(*self.uniform)
        if self.normal:
            return max(0.0, rng.gauss(*self.normal))
        if self.lognormal:
            median, sigma = self.lognormal
            return median * rng.lognormvariate(0.0, sigma)
        return self.fixed or 0.0


class OutageMode(StrEnum):
    ERROR = "error"  # 5xx in the provider's envelope
    HANG = "hang"  # accept the request, never answer
    RESET = "reset"  # close the connection without an answer
    UNAVAILABLE = "unavailable"  # 503


class Behaviour(BaseModel):
    """What a fake does for matching requests; unset fields inherit from wider patterns."""

    model_config = ConfigDict(extra="forbid")

    latency: dict[str, Dist] = Field(default_factory=dict)
    error_ratio: Annotated[float, Field(ge=0, le=1)] | None = None
    error_status: Annotated[int, Field(ge=500, le=599)] | None = None
    rate_limit_ratio: Annotated[float, Field(ge=0, le=1)] | None = None
    retry_after_s: Annotated[int, Field(ge=0)] | None = None
    safety_ratio: Annotated[float, Field(ge=0, le=1)] | None = None
    retired: bool | None = None
    outage: OutageMode | None = None
    #: fal / Replicate: how many jobs are ahead of a new one
    queue_depth: Annotated[int, Field(ge=0)] | None = None
    #: generation only: control calls (model metadata) keep answering
    generation_only: bool | None = None
    # -- lifecycle (issue 16) --
    #: answers name this model instead of the one asked for (a silent redirect)
    served_model: str | None = None

    # -- real answers (issue 14): shapes from tests/fixtures/answers --
    #: billable calls fail for OUR account, in each protocol's real body: ``exhausted``
    #: (credit or quota gone: fal 403 "User is locked. Reason: Exhausted balance.",
    #: Replicate 402 "Insufficient credit"), ``billing`` (billing off or a hard limit),
    #: ``key`` (key rejected or disabled), ``permission`` (no access to the model); the
    #: Google and OpenAI-shape fakes answer all four, fal and Replicate ``exhausted``
    account: Literal["ok", "exhausted", "billing", "key", "permission"] | None = None
    #: Google: the safety system's answer as an error, ``prompt_block`` (400
    #: INVALID_ARGUMENT "The prompt could not be submitted ... Support codes: N")
    filter: Literal["prompt_block"] | None = None
    #: fal / Replicate: a submitted job is lost: its status / get / result URLs answer 404
    lost_job: bool | None = None
    #: outputs as file URLs, or inline as ``data:`` URIs (Replicate's and fal's sync modes)
    output: Literal["url", "data_uri"] | None = None
    # -- end of the real-answers block --
    #: a fake-specific answer to give instead of a plain success (e.g. generateContent's
    #: ``finish:NO_IMAGE``; each fake's module lists its variants)
    variant: str | None = None


class Window(BaseModel):
    """A behaviour that applies between ``start_s`` and ``end_s`` after the scenario loads."""

    model_config = ConfigDict(extra="forbid")

    target: str
    start_s: Annotated[float, Field(ge=0)]
    end_s: Annotated[float, Field(gt=0)]
    behaviour: Behaviour


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = 1
    #: accepted credentials per fake (``openai``, ``vertex``, ``gemini``, ``fal``, ``replicate``)
    keys: dict[str, list[str]] = Field(default_factory=dict)
    targets: dict[str, Behaviour] = Field(default_factory=dict)
    windows: list[Window] = Field(default_factory=list)
    #: WireMock stub mappings served before the fakes (monitor/sim/mappings.py)
    mappings: list[Mapping] = Field(default_factory=list)
    #: image models a fake lists (and serves) beside its own: ``{fake: [model id, ...]}``
    extra_models: dict[str, list[str]] = Field(default_factory=dict)

    @classmethod
    def from_text(cls, text: str) -> Scenario:
        data = yaml.safe_load(text) or {}
        return cls.model_validate(data)


DEFAULT_KEYS: dict[str, list[str]] = {
    # every OpenAI-shape provider shares the openai fake, each with a key of its own
    "openai": [
        "sim-openai-key",
        "sim-lumenfall-key",
        "sim-xai-key",
        "sim-recraft-key",
        "sim-byteplus-key",
    ],
    "vertex": ["sim-vertex-token", "sim-vertex-api-key"],
    "gemini": ["sim-gemini-key"],
    "fal": ["sim-fal-key", "sim-fal-id:sim-fal-secret"],
    "replicate": ["sim-replicate-token"],
    "openrouter": ["sim-openrouter-key"],
    "bfl": ["sim-bfl-key"],
}

DEFAULT_LATENCY: dict[str, Dist] = {
    "ttfb": Dist(uniform=(0.02, 0.06)),
    "queue": Dist(uniform=(0.05, 0.3)),
    "inference": Dist(uniform=(0.3, 0.8)),
    "download": Dist(fixed=0.0),
}


class Fault(StrEnum):
    NONE = "none"
    SERVER_ERROR = "server_error"
    RATE_LIMITED = "rate_limited"
    SAFETY = "safety"
    RETIRED = "retired"
    HANG = "hang"
    RESET = "reset"
    UNAVAILABLE = "unavailable"


class Decision(BaseModel):
    fault: Fault
    status: int = 200
    retry_after_s: int = 0
    latency: dict[str, float]
    queue_depth: int = 0


def _specificity(pattern: str) -> tuple[int, int]:
    return (sum(1 for c in pattern if c not in "*?[]"), len(pattern))


class SimState:
    """The live scenario plus ``/_sim`` overrides; thread-safe."""

    def __init__(self, scenario: Scenario | None = None) -> None:
        self._lock = threading.Lock()
        self.stats: Counter[str] = Counter()
        self.mappings = MappingStore()
        self.load(scenario or Scenario())

    def load(self, scenario: Scenario) -> None:
        with self._lock:
            self.scenario = scenario
            self.overrides: dict[str, Behaviour] = {}
            self.loaded_at = time.monotonic()
            self.rng = random.Random(scenario.seed)
            self.mappings.replace(scenario.mappings)

    def override(self, target: str, behaviour: Behaviour) -> None:
        with self._lock:
            current = self.overrides.get(target, Behaviour())
            update = {name: getattr(behaviour, name) for name in behaviour.model_fields_set}
            merged = current.model_copy(update=update)
            merged.model_fields_set.update(current.model_fields_set | set(update))
            self.overrides[target] = merged

    def clear_overrides(self, target: str | None = None) -> None:
        with self._lock:
            if target is None:
                self.overrides.clear()
            else:
                self.overrides.pop(target, None)

    def keys_for(self, fake: str) -> list[str]:
        return self.scenario.keys.get(fake, DEFAULT_KEYS.get(fake, []))

    def key_ok(self, fake: str, key: str | None) -> bool:
        return bool(key) and key in self.keys_for(fake)

    def known(self, fake: str, model: str, own: Iterable[str]) -> bool:
        """Whether ``fake`` serves ``model``: one of its own, or a scenario's extra model."""
        return model in own or model in self.scenario.extra_models.get(fake, [])

    def listed(self, fake: str, own: Iterable[str]) -> list[str]:
        """The models ``fake``'s listing names: its own and the scenario's extra ones, less
        those the scenario retires (a retired model drops out of its provider's listing)."""
        names = [*own, *self.scenario.extra_models.get(fake, [])]
        unique = list(dict.fromkeys(names))
        return [m for m in unique if not self.behaviour(fake, m).retired]

    def behaviour(self, fake: str, model: str) -> Behaviour:
        """The effective behaviour for one target, all layers merged."""
        target = f"{fake}:{model}"
        now = time.monotonic() - self.loaded_at
        with self._lock:
            layers = sorted(
                (p for p in self.scenario.targets if fnmatch.fnmatchcase(target, p)),
                key=_specificity,
            )
            stack = [self.scenario.targets[p] for p in layers]
            stack += [
                w.behaviour
                for w in self.scenario.windows
                if w.start_s <= now < w.end_s and fnmatch.fnmatchcase(target, w.target)
            ]
            stack += [
                self.overrides[p]
                for p in sorted(self.overrides, key=_specificity)
                if fnmatch.fnmatchcase(target, p)
            ]
        merged: dict[str, Any] = {"latency": dict(DEFAULT_LATENCY)}
        for layer in stack:
            fields = layer.model_dump(exclude_unset=True)
            merged["latency"].update(layer.latency)
            fields.pop("latency", None)
            merged.update(fields)
        return Behaviour.model_validate(merged)

    def decide(self, fake: str, model: str, *, control: bool = False) -> Decision:
        """Roll the dice for one request to ``fake`` about ``model``."""
        b = self.behaviour(fake, model)
        with self._lock:
            self.stats[f"{fake}:{model}:{'control' if control else 'generate'}"] += 1
            latency = {phase: dist.sample(self.rng) for phase, dist in b.latency.items()}
            roll = self.rng.random()
        depth = b.queue_depth or 0
        if b.retired:
            return Decision(fault=Fault.RETIRED, status=404, latency=latency)
        if b.outage and not (control and b.generation_only):
            fault = {
                OutageMode.ERROR: Fault.SERVER_ERROR,
                OutageMode.HANG: Fault.HANG,
                OutageMode.RESET: Fault.RESET,
                OutageMode.UNAVAILABLE: Fault.UNAVAILABLE,
            }[b.outage]
            status = 503 if b.outage == OutageMode.UNAVAILABLE else b.error_status or 500
            return Decision(fault=fault, status=status, latency=latency)
        if control:
            return Decision(fault=Fault.NONE, latency=latency)
        threshold = 0.0
        for ratio, fault, status in (
            (b.rate_limit_ratio, Fault.RATE_LIMITED, 429),
            (b.error_ratio, Fault.SERVER_ERROR, b.error_status or 500),
            (b.safety_ratio, Fault.SAFETY, 200),
        ):
            threshold += ratio or 0.0
            if roll < threshold:
                return Decision(
                    fault=fault,
                    status=status,
                    retry_after_s=b.retry_after_s if b.retry_after_s is not None else 2,
                    latency=latency,
                    queue_depth=depth,
                )
        return Decision(fault=Fault.NONE, latency=latency, queue_depth=depth)


def shut_down_models() -> Scenario:
    """The simulator as the providers answer today (the demo's scenario): every model shut
    down by 2026-12-01 answers as gone at every fake that served it (Google's Imagen 4 on
    2026-08-17, gemini-2.5-flash-image on 2026-10-02, gpt-image-1 on 2026-10-23: see
    shared/reference/image-market-2026.md, section 0), and drops out of the listings."""
    gone = Behaviour(retired=True)
    return Scenario(
        targets={
            "*:imagen-4.0-*": gone,
            "fal:fal-ai/imagen4/*": gone,
            "replicate:google/imagen-4*": gone,
            "*:gemini-2.5-flash-image": gone,
            "*:gpt-image-1": gone,
        }
    )
