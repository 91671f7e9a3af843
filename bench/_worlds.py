"""The detection benchmark's worlds: who serves what, what fails, what the feed says.

Single-offering worlds watch ``fal/imagen-4.0-generate-001`` at $0.04 per image alone.
Group worlds watch the default catalog's ``imagen-4`` upstream: Imagen 4 Fast, Standard
and Ultra at five resellers (Vertex AI, Gemini API, fal, Replicate, Lumenfall), 15
offerings at Google's list prices ($0.02 / $0.04 / $0.06; provider-apis.md names Fast
at 1K as the cheapest probe), each with its own $1 per UTC day. Google Cloud's status
feed covers the Vertex AI and Gemini API members. Imagen 4 was shut down on 2026-08-17;
those worlds are kept because issue 17's targets were set on them. ``live_group`` is
today's counterpart, read from the shipped live catalog (``monitor/catalog/live.yaml``):
its ``gemini-image`` upstream (Nano Banana 2.1, Nano Banana Pro, Nano Banana 2 Lite at
the Gemini API, Vertex AI, fal, OpenRouter and Lumenfall) at each offering's listed probe
price, the status feed covering what the catalog maps to it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from bench._replay import HOUR, FeedScript, Member, World
from monitor.catalogs import load_catalog
from monitor.fate_hooks import upstream_of
from monitor.health import State
from monitor.interfaces import Outcome

OFFERING = "fal/imagen-4.0-generate-001"
PRICE = Decimal("0.04")
MODELS = {
    "imagen-4.0-fast-generate-001": Decimal("0.02"),
    "imagen-4.0-generate-001": Decimal("0.04"),
    "imagen-4.0-ultra-generate-001": Decimal("0.06"),
}
PROVIDERS = ("vertex", "gemini", "fal", "replicate", "lumenfall")
#: the providers whose components Google Cloud's status feed lists
FEED_PROVIDERS = frozenset({"vertex", "gemini"})
#: a feed posts an incident this long after an outage began (uniform, seconds)
FEED_LAG_S = (300.0, 1200.0)
BAD_OR_DOWN = frozenset({State.DEGRADED, State.DOWN})

Effect = Callable[[str, random.Random], tuple[Outcome, float]]


#: single offerings whose cheapest probe costs less than Imagen 4's $0.04, each at its
#: listed price for the request provmon sends (monitor/catalog/live.yaml, imagen4.yaml):
#: GPT Image 2 at quality low, 1024x1024 (~200 image tokens at $30/M, OpenAI's page);
#: FLUX.2 [klein] 4B's first megapixel (docs.bfl.ai pricing); Imagen 4 Fast at 1K
CHEAPER = {
    "gpt_image_2": ("openai/gpt-image-2", Decimal("0.006")),
    "flux_2_klein": ("bfl/flux-2-klein-4b", Decimal("0.014")),
    "imagen_4_fast": ("fal/imagen-4.0-fast-generate-001", Decimal("0.02")),
}


def single() -> tuple[Member, ...]:
    return (Member(offering=OFFERING, price=PRICE),)


def single_of(offering: str, price: Decimal) -> Callable[[], tuple[Member, ...]]:
    return lambda: (Member(offering=offering, price=price),)


def group() -> tuple[Member, ...]:
    return tuple(
        Member(offering=f"{p}/{m}", price=price, feed=p in FEED_PROVIDERS)
        for p in PROVIDERS
        for m, price in MODELS.items()
    )


#: today's group world: this upstream of the shipped live catalog
LIVE_UPSTREAM = "gemini-image"


def live_group() -> tuple[Member, ...]:
    """Every enabled offering of the live catalog's ``LIVE_UPSTREAM``, at its listed probe
    price; a member is covered by a feed when the catalog maps a feed component to it."""
    config = load_catalog("live")
    fed = {
        offering
        for feed in config.status_feeds.values()
        for offerings in feed.components.values()
        for offering in offerings
    }
    members = []
    for offering, spec in sorted(config.offerings.items()):
        if upstream_of(config, offering) != LIVE_UPSTREAM or spec.listed_price_usd is None:
            continue
        members.append(Member(offering=offering, price=spec.listed_price_usd, feed=offering in fed))
    return tuple(members)


def healthy(kind: str, rng: random.Random) -> tuple[Outcome, float]:
    if kind == "control":
        return Outcome.OK, rng.uniform(0.05, 0.3)
    return Outcome.OK, rng.lognormvariate(math.log(8.0), 0.25)


def fail_fast(outcome: Outcome) -> Effect:
    return lambda kind, rng: (outcome, rng.uniform(0.02, 0.1))


def generation_fails(kind: str, rng: random.Random) -> tuple[Outcome, float]:
    if kind == "control":
        return healthy(kind, rng)
    return Outcome.SERVER_ERROR, rng.uniform(0.5, 2.0)


def partial(kind: str, rng: random.Random) -> tuple[Outcome, float]:
    if rng.random() < 0.3:
        return Outcome.SERVER_ERROR, rng.uniform(0.1, 1.0)
    return healthy(kind, rng)


def slow(kind: str, rng: random.Random) -> tuple[Outcome, float]:
    outcome, latency = healthy(kind, rng)
    return outcome, latency * 6 if kind != "control" else latency


@dataclass(frozen=True, kw_only=True)
class Scenario:
    name: str
    trials: int
    #: (warm-up before the earliest start, spread of start times, outage length, after)
    warmup_s: float
    spread_s: float
    outage_s: float
    after_s: float
    #: what a call to an affected offering returns during the outage
    during: Effect
    members: Callable[[], tuple[Member, ...]] = single
    #: the providers the outage hits (None: every member)
    hit: frozenset[str] | None = None
    detect: frozenset[State] = frozenset({State.DOWN})
    baseline_detect: frozenset[State] = frozenset({State.DOWN})
    passive_per_hour: float = 0.0
    background_error: float = 0.0
    expect_outage: bool = True
    #: the status feed: None (no feed), "honest", "silent" (says nothing), "false"
    #: (posts an incident while nothing is wrong)
    feed: str | None = None

    def affected(self) -> frozenset[str]:
        if not self.expect_outage:
            return frozenset()
        return frozenset(
            m.offering
            for m in self.members()
            if self.hit is None or m.offering.split("/", 1)[0] in self.hit
        )


def make_world(sc: Scenario, start: float, end: float) -> World:
    affected = sc.affected() if sc.expect_outage else frozenset(m.offering for m in sc.members())

    def world(offering: str, kind: str, t: float, rng: random.Random) -> tuple[Outcome, float]:
        if start <= t < end and offering in affected:
            return sc.during(kind, rng)
        if sc.background_error and rng.random() < sc.background_error:
            return Outcome.SERVER_ERROR, rng.uniform(0.1, 1.0)
        return healthy(kind, rng)

    return world


def feed_script(
    sc: Scenario, start: float, end: float, horizon: float, rng: random.Random
) -> FeedScript | None:
    if sc.feed is None:
        return None
    if sc.feed == "honest":
        return FeedScript(incidents=((start + rng.uniform(*FEED_LAG_S), end + 600.0),))
    if sc.feed == "false":
        # an incident a day, four hours each, while every member is fine
        days = max(1, int(horizon // (24 * HOUR)))
        starts = [d * 24 * HOUR + rng.uniform(0, 20 * HOUR) for d in range(days)]
        return FeedScript(incidents=tuple((s, s + 4 * HOUR) for s in starts))
    return FeedScript()


def scenarios(scale: float) -> list[Scenario]:
    def n(count: int) -> int:
        return max(3, round(count * scale))

    week = 7 * 24 * HOUR
    generation = {
        "warmup_s": 2 * HOUR,
        "spread_s": 6 * HOUR,
        "outage_s": 6 * HOUR,
        "after_s": 4 * HOUR,
        "during": generation_fails,
    }
    slowdown = {
        "warmup_s": 2 * HOUR,
        "spread_s": 6 * HOUR,
        "outage_s": 8 * HOUR,
        "after_s": 8 * HOUR,
        "during": slow,
        "detect": BAD_OR_DOWN,
        "baseline_detect": BAD_OR_DOWN,
    }
    grouped = {
        "members": group,
        "warmup_s": HOUR,
        "spread_s": 3 * HOUR,
        "outage_s": 2 * HOUR,
        "after_s": HOUR,
        "during": generation_fails,
    }
    return [
        Scenario(
            name="hard_outage",
            trials=n(300),
            warmup_s=HOUR,
            spread_s=HOUR,
            outage_s=600,
            after_s=1800,
            during=fail_fast(Outcome.CONNECT_ERROR),
        ),
        Scenario(name="generation_outage", trials=n(60), **generation),  # type: ignore[arg-type]
        Scenario(
            name="generation_outage_passive",
            trials=n(60),
            passive_per_hour=60.0,
            **generation,  # type: ignore[arg-type]
        ),
        Scenario(
            name="partial_outage",
            trials=n(60),
            warmup_s=2 * HOUR,
            spread_s=HOUR,
            outage_s=2 * HOUR,
            after_s=2 * HOUR,
            during=partial,
            detect=BAD_OR_DOWN,
        ),
        Scenario(name="latency_degradation", trials=n(60), **slowdown),  # type: ignore[arg-type]
        *cheaper(n, generation, slowdown),
        Scenario(
            name="rate_limit_storm",
            trials=n(60),
            warmup_s=2 * HOUR,
            spread_s=HOUR,
            outage_s=HOUR,
            after_s=2 * HOUR,
            during=fail_fast(Outcome.RATE_LIMITED),
            expect_outage=False,
        ),
        Scenario(
            name="flaky_week",
            trials=max(2, round(6 * scale)),
            warmup_s=0,
            spread_s=0,
            outage_s=0,
            after_s=week,
            during=healthy,
            background_error=0.02,
            expect_outage=False,
        ),
        Scenario(
            name="retirement",
            trials=n(60),
            warmup_s=HOUR,
            spread_s=HOUR,
            outage_s=12 * HOUR,
            after_s=0,
            during=fail_fast(Outcome.MODEL_UNAVAILABLE),
            detect=frozenset({State.RETIRED}),
        ),
        Scenario(name="group_generation_outage", trials=n(30), **grouped),  # type: ignore[arg-type]
        Scenario(
            name="group_generation_outage_passive10",
            trials=n(30),
            passive_per_hour=10.0,
            **grouped,  # type: ignore[arg-type]
        ),
        Scenario(
            name="group_generation_outage_passive60",
            trials=n(30),
            passive_per_hour=60.0,
            **grouped,  # type: ignore[arg-type]
        ),
        Scenario(
            name="group_generation_outage_feed",
            trials=n(30),
            feed="honest",
            **grouped,  # type: ignore[arg-type]
        ),
        Scenario(
            name="group_generation_outage_lying_feed",
            trials=n(30),
            feed="silent",
            **grouped,  # type: ignore[arg-type]
        ),
        Scenario(
            name="group_generation_outage_live",
            trials=n(30),
            **{**grouped, "members": live_group},  # type: ignore[arg-type]
        ),
        Scenario(
            name="single_reseller_generation_outage",
            trials=n(30),
            hit=frozenset({"fal"}),
            **grouped,  # type: ignore[arg-type]
        ),
        Scenario(
            name="group_flaky_week_lying_feed",
            trials=max(2, round(2 * scale)),
            members=group,
            warmup_s=0,
            spread_s=0,
            outage_s=0,
            after_s=week,
            during=healthy,
            background_error=0.02,
            expect_outage=False,
            feed="false",
        ),
    ]


def cheaper(
    n: Callable[[int], int], generation: dict[str, object], slowdown: dict[str, object]
) -> list[Scenario]:
    """The generation outage and the slowdown again at offerings with cheaper probes."""
    out = []
    for label, (offering, price) in CHEAPER.items():
        members = single_of(offering, price)
        for base, kw in (("generation_outage", generation), ("latency_degradation", slowdown)):
            out.append(
                Scenario(name=f"{base}_{label}", trials=n(30), members=members, **kw)  # type: ignore[arg-type]
            )
    return out
