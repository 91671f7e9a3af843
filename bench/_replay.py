"""The product's decision code replayed over a group of offerings in virtual time.

One event queue drives every member of one upstream group: free control probes, paid
generate probes reserved on a :class:`~monitor.budget.Budget` ($1 per offering per UTC
day), passive samples from a gateway and a status feed polled every minute. After every
sample the members' next probes are re-planned with the same pure functions the service
calls: :func:`monitor.health.step`, :func:`monitor.cadence.plan_control` /
:func:`~monitor.cadence.plan_generate`, :func:`monitor.fate.view` /
:func:`~monitor.fate.stagger_at` and :func:`monitor.feeds.suspicion`. Nothing sleeps.
"""

from __future__ import annotations

import datetime as dt
import heapq
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from monitor.budget import Budget, BudgetPolicy, MemoryLedger, keeps_reservation
from monitor.cadence import CadencePolicy, plan_control, plan_generate
from monitor.fate import (
    FatePolicy,
    Pressure,
    Verdict,
    pressure,
    provider_of,
    stagger_at,
    verdict,
    view,
)
from monitor.feeds import FeedIncident, suspicion
from monitor.health import HEALTHY, HealthPolicy, HealthState, Sample, State, step
from monitor.interfaces import Outcome

T0 = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
HOUR = 3600.0
DAILY_CAP = Decimal(1)
#: retry a paid probe this long after the budget refused it (the service's wait)
BUDGET_RETRY_S = 300.0
HEALTH = HealthPolicy(latency_objective_s=30.0)
CADENCE = CadencePolicy()
FATE = FatePolicy()
FEED_POLL_S = 60.0
FEED_COMPONENT = "Image generation"

#: (offering, kind, t, rng) -> what the call returns and how long it takes
World = Callable[[str, str, float, random.Random], tuple[Outcome, float]]


@dataclass(frozen=True, kw_only=True)
class Member:
    offering: str
    price: Decimal
    #: the scenario's status feed maps a component to this offering
    feed: bool = False


@dataclass(frozen=True, kw_only=True)
class FeedScript:
    """What the status feed publishes: incidents as (posted, resolved) virtual seconds."""

    incidents: tuple[tuple[float, float], ...] = ()


@dataclass
class Trace:
    """What the monitor did for one offering in one trial: state changes and money."""

    price: Decimal
    changes: list[tuple[float, State]] = field(default_factory=list)
    spend: Decimal = Decimal(0)
    #: spend per UTC day: the budget's promise is about these
    by_day: dict[dt.date, Decimal] = field(default_factory=dict)
    paid_probes: int = 0
    skipped_budget: int = 0

    def bill(self, t: float) -> None:
        self.spend += self.price
        day = at(t).date()
        self.by_day[day] = self.by_day.get(day, Decimal(0)) + self.price

    def record(self, t: float, state: State) -> None:
        if not self.changes or self.changes[-1][1] != state:
            self.changes.append((t, state))


@dataclass
class Replay:
    traces: dict[str, Trace]
    #: the group verdict when every affected member was first down (None: never)
    verdict: Verdict | None = None


def at(t: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=t)


def secs(when: dt.datetime) -> float:
    return (when - T0).total_seconds()


def feed_incidents(script: FeedScript, t: float) -> list[FeedIncident]:
    """The incidents a poll at ``t`` reads, as the parsers in :mod:`monitor.feeds` give them."""
    return [
        FeedIncident(
            feed="sim",
            id=f"inc-{i}",
            name="Elevated error rates for image generation",
            status="investigating",
            impact="major",
            started_at=at(posted),
            resolved_at=None,
            components=(FEED_COMPONENT,),
        )
        for i, (posted, resolved) in enumerate(script.incidents)
        if posted <= t < resolved
    ]


def run_provmon(
    members: Sequence[Member],
    world: World,
    horizon: float,
    rng: random.Random,
    *,
    passive_per_hour: float = 0.0,
    feed: FeedScript | None = None,
    affected: frozenset[str] = frozenset(),
) -> Replay:
    """Replay the product's logic for one group until ``horizon`` (virtual seconds)."""
    offerings = [m.offering for m in members]
    by_id = {m.offering: m for m in members}
    budget = Budget(BudgetPolicy(offering_daily_usd=DAILY_CAP), MemoryLedger(), offerings)
    replay = Replay(traces={m.offering: Trace(price=m.price) for m in members})
    states = {o: HealthState() for o in offerings}
    queue: list[tuple[float, int, str, Any]] = []
    token: dict[tuple[str, str], int] = {}
    busy: dict[tuple[str, str], bool] = {}
    intervals: dict[str, float] = {}
    group_sent: float | None = None
    group: dict[str, dt.datetime | None] = {"stagger": None}
    feed_map = {FEED_COMPONENT: tuple(m.offering for m in members if m.feed)}
    feed_seen: dict[str, dt.datetime] = {}
    seq = 0
    #: some member is in a failure streak: every sample may change what siblings do
    pressing = False

    def push(t: float, what: str, data: Any = None) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(queue, (t, seq, what, data))

    def schedule(offering: str, kind: str, t: float) -> None:
        key = (offering, kind)
        token[key] = token.get(key, 0) + 1
        push(t, kind, (offering, token[key]))

    def refresh_intervals(now: float, only: str | None = None) -> None:
        # an interval moves with its own offering's spend (and slowly with the hour)
        for m in members:
            if only is None or m.offering == only:
                intervals[m.offering] = budget.regular_interval(m.offering, m.price, at(now))
        group["stagger"] = stagger_at(
            at(group_sent) if group_sent is not None else None, intervals.values()
        )

    def generate_plan(offering: str, now: float, shared: Pressure | None = None) -> Any:
        fate = view(
            offering,
            states,
            FATE,
            at(now),
            stagger=group["stagger"],
            feed_since=feed_seen.get(offering),
            group=shared,
        )
        return plan_generate(states[offering], CADENCE, at(now), intervals[offering], fate)

    def replan(
        offering: str, now: float, kinds: tuple[str, ...], shared: Pressure | None = None
    ) -> None:
        for kind in kinds:
            if busy.get((offering, kind)):
                continue
            if kind == "control":
                schedule(offering, kind, secs(plan_control(states[offering], CADENCE, at(now)).at))
            else:
                schedule(offering, kind, secs(generate_plan(offering, now, shared).at))

    def replan_siblings(offering: str, now: float) -> None:
        shared = pressure(states, FATE, at(now))
        for other in offerings:
            if other != offering:
                replan(other, now, ("generate",), shared)

    refresh_intervals(0.0)
    for o in offerings:
        schedule(o, "control", rng.uniform(0, CADENCE.control_interval_s))
        schedule(o, "generate", rng.uniform(0, 5.0))
    if passive_per_hour:
        push(rng.expovariate(passive_per_hour / HOUR), "passive")
    if feed is not None:
        push(rng.uniform(0, FEED_POLL_S), "poll")
    while queue:
        t, _, what, data = heapq.heappop(queue)
        if t > horizon:
            break
        if what in ("control", "generate"):
            offering, tok = data
            key = (offering, what)
            if tok != token[key] or busy.get(key):
                continue
            reservation = None
            if what == "generate":
                planned = generate_plan(offering, t)
                if secs(planned.at) > t + 0.5:
                    # a sibling probed since this was planned: the stagger moved it later
                    schedule(offering, what, secs(planned.at))
                    continue
                purpose = planned.purpose
                price = by_id[offering].price
                reservation = budget.reserve(
                    offering, provider_of(offering), price, "bench", at(t), purpose
                )
                if reservation is None:
                    replay.traces[offering].skipped_budget += 1
                    schedule(offering, what, t + BUDGET_RETRY_S)
                    continue
                replay.traces[offering].paid_probes += 1
                group_sent = t
                refresh_intervals(t, offering)
            outcome, latency = world(offering, what, t, rng)
            busy[key] = True
            push(t + latency, "result", (offering, what, outcome, latency, t, reservation))
            continue
        if what == "passive":
            offering = rng.choice(offerings)
            outcome, latency = world(offering, "generate", t, rng)
            sample = Sample(outcome=outcome, at=at(t), latency_s=latency, kind="passive")
            push(t + latency, "sample", (offering, sample))
            push(t + rng.expovariate(passive_per_hour / HOUR), "passive")
            continue
        if what == "poll":
            assert feed is not None
            seen = suspicion(feed_incidents(feed, t), feed_map)
            changed = set(seen) ^ set(feed_seen)
            # the monitor knows an incident from the poll that first read it
            feed_seen = {o: feed_seen.get(o, at(t)) for o in seen}
            for o in sorted(changed):
                replan(o, t, ("generate",))
            push(t + FEED_POLL_S, "poll")
            continue
        if what == "result":
            offering, kind, outcome, latency, sent, reservation = data
            busy[(offering, kind)] = False
            if reservation is not None:
                billed = keeps_reservation(outcome)
                budget.settle(reservation, billed, at(t))
                if billed:
                    replay.traces[offering].bill(sent)
            sample = Sample(outcome=outcome, at=at(sent), latency_s=latency, kind=kind)
        else:
            offering, sample = data
        before = states[offering]
        states[offering] = step(HEALTH, before, sample)
        replay.traces[offering].record(t, states[offering].state)
        if sample.kind == "control" and not _control_news(before, states[offering]):
            replan(offering, t, ("control",))
            continue
        refresh_intervals(t, offering)
        replan(offering, t, ("control", "generate"))
        # siblings hear of failures and state changes (staggering is checked when a
        # probe is due, so a success changes nothing for them)
        news = sample.outcome not in HEALTHY or states[offering].state != before.state
        if news or pressing:
            replan_siblings(offering, t)
            pressing = bool(pressure(states, FATE, at(t)).failing) or bool(feed_seen)
        if (
            replay.verdict is None
            and affected
            and all(states[o].state == State.DOWN for o in affected)
        ):
            replay.verdict = verdict(states)[0]
    return replay


def _control_news(before: HealthState, after: HealthState) -> bool:
    """A control sample the paid cadence must hear about (a failure, a state change)."""
    return (
        after.state != before.state
        or after.control.state != before.control.state
        or bool(after.control.failures or before.control.failures)
    )
