"""Routing's values: policies with their constraints and hysteresis, what an evaluation
reads (:class:`Snapshot` of :class:`OfferingView`) and what it gives (:class:`Route` of
:class:`RouteEntry`). ``monitor.routing`` decides; see its docstring for the policies."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from monitor.interfaces import State
from monitor.windows import WindowStats


class PolicyName(StrEnum):
    COST = "cost"
    LATENCY = "latency"
    BALANCED = "balanced"


class Tier(StrEnum):
    PRIMARY = "primary"
    FALLBACK = "fallback"
    EXCLUDED = "excluded"


@dataclass(frozen=True, kw_only=True)
class Constraints:
    min_success_ratio: float = 0.95
    #: seconds; None: no latency constraint
    max_p95_s: float | None = 60.0
    #: USD per image; None: no price ceiling
    max_price_usd: Decimal | None = None
    #: a window needs this many samples to be read (see :func:`monitor.windows.pick_window`)
    min_samples: int = 10


@dataclass(frozen=True, kw_only=True)
class Hysteresis:
    #: relative improvement a challenger needs (0.05: 5 % cheaper or faster)
    margin: float = 0.05
    evaluations: int = 3
    hold_seconds: float = 60.0
    #: the incumbent stays eligible down to min success ratio minus this, and up to max
    #: p95 times (1 + this): 2 failures in 30 samples must not evict a 97 % provider
    band: float = 0.05


@dataclass(frozen=True, kw_only=True)
class Policy:
    name: PolicyName = PolicyName.COST
    constraints: Constraints = field(default_factory=Constraints)
    hysteresis: Hysteresis = field(default_factory=Hysteresis)
    #: balanced: weights of normalised effective cost, p95 latency and success ratio
    balance: tuple[float, float, float] = (0.6, 0.3, 0.1)
    #: balanced: at most this many offerings get traffic
    max_targets: int = 3


#: p95 over a few dozen samples is noisy: latency needs a wider margin than cost
DEFAULT_POLICIES: tuple[Policy, ...] = (
    Policy(name=PolicyName.COST),
    Policy(name=PolicyName.LATENCY, hysteresis=Hysteresis(margin=0.15)),
    Policy(name=PolicyName.BALANCED),
)


@dataclass(frozen=True, kw_only=True)
class OfferingView:
    """What routing knows about one offering at one moment."""

    offering: str
    provider: str
    model: str
    state: State
    #: listed USD per image (normalised by the pricing code), None when unknown
    price_usd: Decimal | None
    windows: Mapping[str, WindowStats] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    at: dt.datetime
    offerings: tuple[OfferingView, ...]


@dataclass(frozen=True, kw_only=True)
class RouteEntry:
    offering: str
    provider: str
    #: 1 is the first choice; 0 means excluded (never routed)
    rank: int
    #: share of traffic, 0..1; weights of one route sum to 1 when anything is routable
    weight: float
    tier: Tier
    reason: str
    score: float | None = None
    price_usd: Decimal | None = None
    effective_cost_usd: Decimal | None = None
    success_ratio: float | None = None
    p95_s: float | None = None
    window: str | None = None
    samples: int = 0


@dataclass(frozen=True, kw_only=True)
class Route:
    model: str
    policy: PolicyName
    at: dt.datetime
    entries: tuple[RouteEntry, ...]
    #: the first choice differs from the previous evaluation's
    changed: bool = False

    @property
    def first(self) -> RouteEntry | None:
        return self.entries[0] if self.entries and self.entries[0].rank == 1 else None

    @property
    def ranked(self) -> tuple[RouteEntry, ...]:
        """Entries a gateway may send traffic to, best first (primaries, then fallbacks)."""
        return tuple(e for e in self.entries if e.rank > 0)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: Decimals as strings (prices keep their digits), enums as values."""
        return {
            "model": self.model,
            "policy": self.policy.value,
            "at": self.at.isoformat(),
            "changed": self.changed,
            "first": self.first.offering if self.first else None,
            "entries": [_json(asdict(e)) for e in self.entries],
        }


def _json(row: dict[str, Any]) -> dict[str, Any]:
    def value(v: Any) -> Any:
        if isinstance(v, Decimal | StrEnum):
            return str(v)
        return None if isinstance(v, float) and math.isinf(v) else v

    return {k: value(v) for k, v in row.items()}


@dataclass(frozen=True, kw_only=True)
class Memory:
    """Hysteresis state of one (model, policy) between evaluations."""

    incumbent: str | None = None
    streak: int = 0
    streak_since: dt.datetime | None = None


def same_views(last: tuple[OfferingView, ...] | None, views: tuple[OfferingView, ...]) -> bool:
    """Whether a model's views are those of its last evaluation (prices to the digit:
    reasons quote them)."""
    return (
        last is not None
        and last == views
        and all(str(a.price_usd) == str(b.price_usd) for a, b in zip(last, views, strict=True))
    )


def holds_again(last: Memory | None, memory: Memory) -> bool:
    """Whether a decision over unchanged views holds again: it left the memory as it
    found it (``last``, what it was given), and that memory carries no streak."""
    return last == memory and not memory.streak and memory.streak_since is None


def build_snapshot(
    at: dt.datetime,
    offerings: Iterable[str],
    *,
    current_price: Callable[[str], Decimal | None],
    state_of: Callable[[str], State],
    stats: Mapping[str, Mapping[str, WindowStats]],
) -> Snapshot:
    """Assemble a snapshot; ``offerings`` are ``provider/model`` ids (DESIGN.md, "offering")."""
    views = []
    for offering in offerings:
        provider, _, model = offering.partition("/")
        views.append(
            OfferingView(
                offering=offering,
                provider=provider,
                model=model,
                state=state_of(offering),
                price_usd=current_price(offering),
                windows=stats.get(offering, {}),
            )
        )
    return Snapshot(at=at, offerings=tuple(views))
