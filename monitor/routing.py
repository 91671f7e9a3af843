"""Routing decisions: for each model, its offerings ranked (and weighted) by a policy.

Pure functions over a :class:`Snapshot` (listed prices, health states, window stats), plus
:class:`RoutingEngine`, which only adds the hysteresis memory between evaluations. The live
service and ``bench/backtest.py`` run the same code.

Policies:

- ``cost`` (the default): cheapest **effective cost** per successful image = listed price ÷
  success ratio, so an offering failing a quarter of its attempts costs 4/3 of its price.
  This assumes every attempt is billed, conservative for 429s and most 5xx, which are not.
- ``latency``: lowest p95 of successful generations.
- ``balanced``: a weighted score of cost, p95 and failure ratio, each normalised to the best
  candidate; traffic is split over the best few by weight.

Every policy applies the same constraints. An offering that is ``down`` or ``retired``,
lacks a price the policy needs, or is above the maximum price is **excluded** (rank 0, never
routed). One that is not ``up``, is below the minimum success ratio, above the maximum p95
or has no recent generate results is a **fallback**: ranked after every eligible offering,
weight 0, still worth listing for a gateway's failover. Every entry carries its reason.

Hysteresis: the first choice changes at once when it stops being eligible (safety beats
stability), but a healthy incumbent is replaced only when some eligible challenger beats it
by ``margin`` for ``evaluations`` consecutive evaluations spanning ``hold_seconds``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from monitor.health import State
from monitor.interfaces import Gauge, GaugeRow
from monitor.routing_model import (
    DEFAULT_POLICIES,
    Constraints,
    Hysteresis,
    Memory,
    OfferingView,
    Policy,
    PolicyName,
    Route,
    RouteEntry,
    Snapshot,
    Tier,
    build_snapshot,
    holds_again,
    same_views,
)
from monitor.windows import WINDOWS, WindowStats, pick_window

__all__ = [
    "DEFAULT_POLICIES",
    "Constraints",
    "Hysteresis",
    "Memory",
    "OfferingView",
    "Policy",
    "PolicyName",
    "Route",
    "RouteEntry",
    "RoutingEngine",
    "Snapshot",
    "Tier",
    "build_snapshot",
    "decide",
    "effective_cost",
]


def effective_cost(price_usd: Decimal | None, success_ratio: float | None) -> Decimal | None:
    """Listed price ÷ success ratio: what one successful image costs when every attempt is
    billed. None when either is unknown or nothing succeeded (the cost is unbounded)."""
    if price_usd is None or not success_ratio:
        return None
    return (price_usd / Decimal(repr(success_ratio))).quantize(Decimal("0.000001"))


# -- assessing one offering --------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Candidate:
    view: OfferingView
    tier: Tier
    problem: str
    stats: WindowStats | None
    cost: Decimal | None
    score: float = math.inf


def _assess(policy: Policy, view: OfferingView, incumbent: bool = False) -> _Candidate:
    c = policy.constraints
    band = policy.hysteresis.band if incumbent else 0.0
    min_ratio = c.min_success_ratio - band
    max_p95 = c.max_p95_s * (1 + band) if c.max_p95_s is not None else None
    stats = pick_window(view.windows, min_samples=c.min_samples, windows=WINDOWS)
    ratio = stats.success_ratio if stats else None
    cost = effective_cost(view.price_usd, ratio)

    def verdict(tier: Tier, problem: str = "") -> _Candidate:
        return _Candidate(view=view, tier=tier, problem=problem, stats=stats, cost=cost)

    where = f"over {stats.window} ({stats.samples} samples)" if stats else ""
    if view.state in (State.DOWN, State.RETIRED):
        return verdict(Tier.EXCLUDED, f"state is {view.state.value}")
    needs_price = policy.name != PolicyName.LATENCY or c.max_price_usd is not None
    if needs_price and view.price_usd is None:
        return verdict(Tier.EXCLUDED, "no listed price")
    price, ceiling = view.price_usd, c.max_price_usd
    if ceiling is not None and price is not None and price > ceiling:
        return verdict(Tier.EXCLUDED, f"listed ${price} is above the ${ceiling} maximum")
    if stats is None or ratio is None:
        return verdict(Tier.FALLBACK, "no recent generate results")
    if view.state != State.UP:
        return verdict(Tier.FALLBACK, f"state is {view.state.value}, not up")
    if ratio < min_ratio:
        return verdict(
            Tier.FALLBACK, f"success {ratio:.1%} {where} is below the {min_ratio:.0%} minimum"
        )
    if max_p95 is not None and stats.p95_s is not None and stats.p95_s > max_p95:
        return verdict(
            Tier.FALLBACK, f"p95 {stats.p95_s:.1f}s {where} is above the {max_p95:.0f}s maximum"
        )
    return verdict(Tier.PRIMARY)


def _scored(policy: Policy, candidates: list[_Candidate]) -> list[_Candidate]:
    """Candidates with their score (lower is better; inf when it cannot be computed)."""

    def cost(x: _Candidate) -> float:
        return float(x.cost) if x.cost is not None else math.inf

    def p95(x: _Candidate) -> float:
        s = x.stats
        value = (s.p95_s if s.p95_s is not None else s.p50_s) if s else None
        return value if value is not None else math.inf

    if policy.name == PolicyName.COST:
        return [replace(x, score=cost(x)) for x in candidates]
    if policy.name == PolicyName.LATENCY:
        return [replace(x, score=p95(x)) for x in candidates]
    routable = [x for x in candidates if x.tier != Tier.EXCLUDED]
    best_cost = min((cost(x) for x in routable), default=math.inf)
    best_p95 = min((p95(x) for x in routable), default=math.inf)
    a, b, r = policy.balance

    def balanced(x: _Candidate) -> float:
        ratio = x.stats.success_ratio if x.stats else None
        if not ratio or math.isinf(cost(x)) or math.isinf(p95(x)):
            return math.inf
        return a * cost(x) / best_cost + b * p95(x) / max(best_p95, 1e-9) + r / ratio

    return [replace(x, score=balanced(x)) for x in candidates]


def _order(candidates: list[_Candidate]) -> list[_Candidate]:
    tiers = list(Tier)
    return sorted(
        candidates,
        key=lambda x: (tiers.index(x.tier), x.score, x.view.price_usd or 0, x.view.offering),
    )


# -- hysteresis ---------------------------------------------------------------------------


def _hold(
    policy: Policy, ordered: list[_Candidate], memory: Memory, now: dt.datetime
) -> tuple[list[_Candidate], Memory, str]:
    """Apply hysteresis to the first choice; returns the order, new memory and a note."""
    primaries = [x for x in ordered if x.tier == Tier.PRIMARY]
    if not primaries:
        first = ordered[0].view.offering if ordered and ordered[0].tier != Tier.EXCLUDED else None
        return ordered, Memory(incumbent=first), ""
    best = primaries[0]
    incumbent = next((x for x in primaries if x.view.offering == memory.incumbent), None)
    if incumbent is None:
        note = "" if memory.incumbent is None else f"replaces {memory.incumbent}, not eligible"
        return ordered, Memory(incumbent=best.view.offering), note
    if incumbent is best:
        return ordered, Memory(incumbent=best.view.offering), ""
    h = policy.hysteresis
    gain = 1.0 - best.score / incumbent.score if incumbent.score > 0 else 0.0
    if math.isinf(incumbent.score) and not math.isinf(best.score):
        gain = 1.0
    if gain < h.margin:
        note = f"held: {best.view.offering} is {gain:.1%} better, under the {h.margin:.0%} margin"
        return _promote(ordered, incumbent), Memory(incumbent=memory.incumbent), note
    streak = memory.streak + 1
    since = memory.streak_since or now
    if streak >= h.evaluations and (now - since).total_seconds() >= h.hold_seconds:
        note = f"replaces {memory.incumbent}: {gain:.1%} better for {streak} evaluations"
        return ordered, Memory(incumbent=best.view.offering), note
    note = (
        f"held: {best.view.offering} is {gain:.1%} better, "
        f"{streak} of {h.evaluations} evaluations before switching"
    )
    held = Memory(incumbent=memory.incumbent, streak=streak, streak_since=since)
    return _promote(ordered, incumbent), held, note


def _promote(ordered: list[_Candidate], first: _Candidate) -> list[_Candidate]:
    return [first, *(x for x in ordered if x is not first)]


# -- weights, reasons, the route ---------------------------------------------------------


def _weights(policy: Policy, ordered: list[_Candidate]) -> list[float]:
    """Primaries only. cost/latency: all traffic to the first (the rest is failover order);
    balanced: ∝ score⁻⁴ over the best ``max_targets``, shares under 10 % dropped."""
    n_primary = sum(1 for x in ordered if x.tier == Tier.PRIMARY)
    weights = [0.0] * len(ordered)
    if not n_primary:
        return weights
    if policy.name != PolicyName.BALANCED:
        weights[0] = 1.0
        return weights
    top = range(min(n_primary, policy.max_targets))
    raw = {i: ordered[i].score ** -4 for i in top if not math.isinf(ordered[i].score)}
    total = sum(raw.values()) or 1.0
    kept = {i: v for i, v in raw.items() if v / total >= 0.10} or {0: 1.0}
    total = sum(kept.values())
    for i, v in kept.items():
        weights[i] = round(v / total, 3)
    return weights


def _figure(policy: Policy, x: _Candidate) -> str:
    s = x.stats
    where = f" over {s.window}, {s.samples} samples" if s else ""
    ratio = f"{s.success_ratio:.1%}" if s and s.success_ratio is not None else "unknown"
    if policy.name == PolicyName.LATENCY:
        return f"p95 {s.p95_s:.1f}s{where}" if s and s.p95_s is not None else "p95 unknown"
    cost = f"effective ${x.cost}/image (listed ${x.view.price_usd} ÷ success {ratio}{where})"
    if policy.name == PolicyName.COST:
        return cost
    p95 = f"{s.p95_s:.1f}s" if s and s.p95_s is not None else "unknown"
    return f"score {x.score:.3f}: {cost}, p95 {p95}"


def _reason(policy: Policy, x: _Candidate, rank: int, weight: float, note: str) -> str:
    if x.tier == Tier.EXCLUDED:
        return f"excluded: {x.problem}"
    if x.tier == Tier.FALLBACK:
        return f"fallback #{rank}: {x.problem}"
    lead = "first" if rank == 1 else f"#{rank}"
    text = f"{lead} ({weight:.0%} of traffic): {_figure(policy, x)}"
    return f"{text}; {note}" if rank == 1 and note else text


def decide(
    policy: Policy,
    model: str,
    views: Sequence[OfferingView],
    memory: Memory,
    now: dt.datetime,
) -> tuple[Route, Memory]:
    """The route for one model under one policy, and the hysteresis memory to keep.

    Pure: the same inputs give the same route. ``views`` are that model's offerings.
    """
    assessed = [_assess(policy, v, v.offering == memory.incumbent) for v in views]
    ordered = _order(_scored(policy, assessed))
    ordered, new_memory, note = _hold(policy, ordered, memory, now)
    weights = _weights(policy, ordered)
    entries = []
    for i, (x, w) in enumerate(zip(ordered, weights, strict=True)):
        rank = 0 if x.tier == Tier.EXCLUDED else i + 1
        s = x.stats
        entries.append(
            RouteEntry(
                offering=x.view.offering,
                provider=x.view.provider,
                rank=rank,
                weight=w,
                tier=x.tier,
                reason=_reason(policy, x, rank, w, note),
                score=x.score,
                price_usd=x.view.price_usd,
                effective_cost_usd=x.cost,
                success_ratio=s.success_ratio if s else None,
                p95_s=s.p95_s if s else None,
                window=s.window if s else None,
                samples=s.samples if s else 0,
            )
        )
    changed = new_memory.incumbent != memory.incumbent and memory.incumbent is not None
    route = Route(model=model, policy=policy.name, at=now, entries=tuple(entries), changed=changed)
    return route, new_memory


class RoutingEngine:
    """Routes for every model and policy, remembering hysteresis between evaluations.

    Call :meth:`evaluate` on a schedule (each call is one evaluation for hysteresis), and
    read :attr:`latest` or :meth:`gauges` in between. Not thread-safe: one owner calls it.
    """

    def __init__(self, policies: Sequence[Policy] = DEFAULT_POLICIES) -> None:
        self.policies = {p.name: p for p in policies}
        self.memory: dict[tuple[str, PolicyName], Memory] = {}
        self.latest: dict[tuple[str, PolicyName], Route] = {}
        self.snapshot: Snapshot | None = None
        #: counts evaluations that decided some route anew: what :meth:`gauges` shows
        #: changes only when this does
        self.generation = 0
        #: per model its last views, per (model, policy) the memory its last decision
        #: was given (issue 18: a model none of whose inputs moved keeps its routes)
        self._views: dict[str, tuple[OfferingView, ...]] = {}
        self._given: dict[tuple[str, PolicyName], Memory] = {}
        self._fresh = False  # some route of this evaluation was decided anew

    def evaluate(self, snapshot: Snapshot) -> list[Route]:
        """One evaluation: every model's route under every policy, sorted by model
        (:meth:`decide_model` for each, then :meth:`finish`)."""
        by_model: dict[str, list[OfferingView]] = defaultdict(list)
        for view in snapshot.offerings:
            by_model[view.model].append(view)
        routes = []
        for model in sorted(by_model):
            routes += self.decide_model(model, by_model[model], snapshot.at)
        self.finish(snapshot)
        return routes

    def decide_model(
        self, model: str, views: Sequence[OfferingView], at: dt.datetime
    ) -> list[Route]:
        """One model's routes under every policy, as part of an evaluation at ``at`` that
        :meth:`finish` ends (the service decides models in slices between probes).

        A model whose views equal those of its last decision, whose memory that decision
        left unchanged and carries no streak, gets the same route again, at this time:
        :func:`decide` reads the time only through a streak (issue 18: at 10,000 offerings
        deciding every route was most of a second of Python every 30 s)."""
        kept = tuple(views)
        same = same_views(self._views.get(model), kept)
        self._views[model] = kept
        routes = []
        for name, policy in self.policies.items():
            key = (model, name)
            memory = self.memory.get(key, Memory())
            before = self.latest.get(key)
            if same and before is not None and holds_again(self._given.get(key), memory):
                route = Route(model=model, policy=name, at=at, entries=before.entries)
            else:
                route, self.memory[key] = decide(policy, model, kept, memory, at)
                self._given[key] = memory
                self._fresh = True
            self.latest[key] = route
            routes.append(route)
        return routes

    def finish(self, snapshot: Snapshot) -> None:
        """End an evaluation: ``snapshot`` holds every view it decided on."""
        self.snapshot = snapshot
        if self._fresh:
            self.generation += 1
            self._fresh = False

    def routes(self, *, policy: PolicyName | None = None, model: str | None = None) -> list[Route]:
        """The latest routes, optionally of one policy and/or one model."""
        return [
            r
            for (m, p), r in sorted(self.latest.items())
            if (policy is None or p == policy) and (model is None or m == model)
        ]

    def gauges(self) -> Iterator[GaugeRow]:
        """Scrape-time rows: route rank and weight per policy; effective cost per offering
        (window chosen with the ``cost`` policy's constraints, or the first policy's)."""
        for (model, name), route in sorted(self.latest.items()):
            for e in route.entries:
                labels = {"model": model, "offering": e.offering, "policy": name.value}
                yield GaugeRow(name=Gauge.ROUTE_RANK, labels=labels, value=float(e.rank))
                yield GaugeRow(name=Gauge.ROUTE_WEIGHT, labels=dict(labels), value=e.weight)
        views = {v.offering: v for v in self.snapshot.offerings} if self.snapshot else {}
        for offering, cost in self.effective_costs().items():
            if cost is not None:
                view = views[offering]
                labels = {
                    "offering": view.offering,
                    "provider": view.provider,
                    "model": view.model,
                    "unit": "image",
                }
                yield GaugeRow(name=Gauge.EFFECTIVE_COST, labels=labels, value=float(cost))

    def effective_costs(self) -> dict[str, Decimal | None]:
        """Per offering of the last evaluation: listed price ÷ success ratio, over the
        window the ``cost`` policy reads (the first policy's without one). What
        ``provmon_effective_cost_usd`` and the status page both show."""
        if self.snapshot is None or not self.policies:
            return {}
        policy = self.policies.get(PolicyName.COST) or next(iter(self.policies.values()))
        out: dict[str, Decimal | None] = {}
        for view in self.snapshot.offerings:
            stats = pick_window(view.windows, min_samples=policy.constraints.min_samples)
            out[view.offering] = effective_cost(
                view.price_usd, stats.success_ratio if stats else None
            )
        return out
