"""The result path, in one direction, and :func:`replay`, which rebuilds it from the store.

A finished probe goes to :meth:`ResultPipeline.accept` and from there, never back up: to
the store (through the writer's outage buffer), the metrics, the health engine (this
vantage's results) and the recent results routing's windows read. A state change the
health engine reports becomes incident events, which take the same buffered way to the
store, and is then passed to ``on_state_change`` (re-planning). Nothing else feeds them.

:func:`replay` rebuilds health, prices, recent results and routing from what the store
holds: the service at start-up, ``provmon route`` and the backtest run the same code.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Protocol

from monitor.cadence import CadencePolicy
from monitor.config import Config
from monitor.health import (
    HealthBook,
    HealthPolicy,
    HealthState,
    IncidentEvent,
    Sample,
    State,
    incident_events,
)
from monitor.interfaces import Kind, Outcome, Phase, ProbeResult, StateRow
from monitor.pricing.state import PriceBook
from monitor.routing import Route, RoutingEngine, build_snapshot
from monitor.store import Store
from monitor.windows import WindowBook

log = logging.getLogger(__name__)

#: how much generate history routing reads (its longest window)
ROUTING_HISTORY = dt.timedelta(days=1)
#: how many of the newest results rebuild the health engine at start (its windows are
#: counts of samples, far fewer than this)
HEALTH_REPLAY = 2000


def health_policy(config: Config) -> HealthPolicy:
    h = config.health
    return HealthPolicy(
        fail_threshold=h.fail_threshold,
        recover_threshold=h.recover_threshold,
        window=h.window,
        min_samples=h.min_samples,
        down_error_ratio=h.down_error_ratio,
        degraded_error_ratio=h.degraded_error_ratio,
        latency_objective_s=h.latency_objective_seconds,
    )


def cadence_policy(config: Config) -> CadencePolicy:
    c = config.cadence
    return CadencePolicy(
        control_interval_s=config.defaults.control.interval_seconds,
        control_confirm_s=c.control_confirm_seconds,
        control_down_s=c.control_down_seconds,
        generate_min_interval_s=c.generate_min_interval_seconds,
        generate_max_interval_s=c.generate_max_interval_seconds,
        generate_confirm_s=c.generate_confirm_seconds,
        generate_down_s=c.generate_down_seconds,
    )


def sample_of(result: ProbeResult) -> Sample:
    """What the health engine reads of one result."""
    return Sample(
        outcome=result.outcome,
        at=result.started_at,
        latency_s=result.phases.get(Phase.TOTAL),
        kind=result.kind.value,
    )


@dataclass(frozen=True, slots=True)
class Recent:
    """What routing's windows read of one result (``monitor.windows.ResultLike``), about a
    tenth of a whole :class:`ProbeResult` in memory: a day at 1,000 offerings is ~300k."""

    offering: str
    kind: Kind
    outcome: Outcome
    started_at: dt.datetime
    phases: Mapping[Phase, float]
    cancelled: bool = False


#: the phases map of a result without a total (shared, never written)
_NO_PHASES: Mapping[Phase, float] = MappingProxyType({})


@dataclass
class RecentResults:
    """The last day of generate results in memory (the status page's trends) and routing's
    windows kept up to date as they land (``book``, issue 18)."""

    results: deque[Recent] = field(default_factory=deque)
    book: WindowBook = field(default_factory=WindowBook)

    def accept(self, result: ProbeResult) -> None:
        self.book.add(result)
        if result.kind == Kind.GENERATE and not result.cancelled:
            total = result.phases.get(Phase.TOTAL)
            phases = _NO_PHASES if total is None else {Phase.TOTAL: total}
            self.results.append(
                Recent(
                    offering=sys.intern(result.offering),
                    kind=result.kind,
                    outcome=result.outcome,
                    started_at=result.started_at,
                    phases=phases,
                )
            )

    def trim(self, now: dt.datetime) -> None:
        while self.results and now - self.results[0].started_at > ROUTING_HISTORY:
            self.results.popleft()


class Sink(Protocol):
    def accept(self, result: ProbeResult) -> None: ...


class IncidentSink(Protocol):
    def accept_incidents(self, events: Sequence[IncidentEvent]) -> None: ...


StateHook = Callable[[str, str, HealthState, HealthState], None]


class ResultPipeline:
    """The runner's one sink. ``store`` is the writer (results and incidents, buffered),
    ``metrics`` the metrics sink; ``on_state_change`` runs after an incident was queued."""

    def __init__(
        self,
        config: Config,
        *,
        store: Sink,
        incidents: IncidentSink,
        metrics: Sink,
        health: HealthBook,
        recent: RecentResults,
        on_state_change: StateHook | None = None,
        observers: Sequence[Sink] = (),
    ) -> None:
        self.config = config
        self.store, self.incidents, self.metrics = store, incidents, metrics
        self.health, self.recent = health, recent
        self.on_state_change = on_state_change
        #: also told of every result: the price book (usage per image), the lifecycle
        #: watch (served models)
        self.observers = list(observers)

    def accept(self, result: ProbeResult) -> None:
        self.store.accept(result)
        self.metrics.accept(result)
        if not result.cancelled and result.vantage == self.config.vantage:
            self.health.observe(result.offering, result.vantage, sample_of(result))
        self.recent.accept(result)
        for observer in self.observers:
            observer.accept(result)

    def observe_passive(self, offering: str, vantage: str, sample: Sample) -> None:
        """A sample of real traffic (``POST /api/samples``): health only."""
        self.health.observe(offering, vantage, sample)

    def listen(self) -> None:
        """From now on, state changes open and close incidents (after a replay, so that
        replayed results do not reopen old ones)."""
        self.health.on_change = self._state_changed

    def _state_changed(
        self, offering: str, vantage: str, before: HealthState, after: HealthState
    ) -> None:
        events = incident_events(offering, vantage, before, after)
        if events:
            log.warning("%s is now %s: %s", offering, after.state, after.reason)
            self.incidents.accept_incidents(events)
        if self.on_state_change is not None:
            self.on_state_change(offering, vantage, before, after)

    def state_rows(self) -> Iterable[StateRow]:
        """Every enabled offering's state at this vantage, for ``provmon_offering_state``."""
        config = self.config
        for offering in config.enabled_offerings():
            yield StateRow(
                offering=offering,
                provider=config.provider_of(offering),
                model=config.model_of(offering),
                vantage=config.vantage,
                state=self.health.get(offering, config.vantage).state,
            )


def evaluate_routes(
    routing: RoutingEngine,
    now: dt.datetime,
    offerings: Sequence[str],
    *,
    price_of: Callable[[str], Decimal | None],
    state_of: Callable[[str], State],
    recent: RecentResults,
) -> list[Route]:
    """One routing evaluation over prices, states and the windows ``recent`` keeps: the
    service and :func:`replay` (so the backtest too). Returns the new routes."""
    stats = recent.book.stats(now, offerings=offerings)
    return routing.evaluate(
        build_snapshot(now, offerings, current_price=price_of, state_of=state_of, stats=stats)
    )


@dataclass(kw_only=True)
class Replayed:
    """In-memory state rebuilt from the store."""

    health: HealthBook
    prices: PriceBook
    recent: RecentResults
    routing: RoutingEngine


def replay(
    store: Store,
    config: Config,
    now: dt.datetime,
    *,
    into: Replayed | None = None,
) -> Replayed:
    """Rebuild health (this vantage's newest results), prices (the newest accepted, held
    and removed quote per offering and source, and the fetch states), the day's generate
    results and one routing evaluation from the store. ``into``: fill these objects (the
    service's own) instead of new ones. Raises :class:`monitor.store.StoreError`. Blocking:
    call it from a worker thread in a service."""
    out = into or Replayed(
        health=HealthBook(health_policy(config)),
        prices=PriceBook(config, lambda: now),
        recent=RecentResults(),
        routing=RoutingEngine(),
    )
    newest = store.recent_results(limit=HEALTH_REPLAY)
    since = now - ROUTING_HISTORY
    if len(newest) < HEALTH_REPLAY:  # that is every stored result: no second read
        history = [r for r in newest if r.kind == Kind.GENERATE and r.started_at >= since]
    else:
        history = store.recent_results(kind="generate", since=since, limit=100_000)
    out.prices.restore(store.latest_price_events(), store.fetch_states())
    for result in reversed(newest):
        if result.vantage == config.vantage and not result.cancelled:
            out.health.observe(result.offering, result.vantage, sample_of(result))
    for result in reversed(history):
        out.recent.accept(result)
    out.recent.trim(now)
    evaluate_routes(
        out.routing,
        now,
        config.enabled_offerings(),
        price_of=out.prices.price_of,
        state_of=lambda o: out.health.get(o, config.vantage).state,
        recent=out.recent,
    )
    return out
