"""Wiring: config to store, runner, engines, scheduler and the HTTP server, in one process.

One process owns the scheduler, the probes and ``/metrics`` (several workers would each
schedule probes, and custom collectors do not work across processes). The decisions —
health, cadence, budget arithmetic, routing, price judgement — are pure modules; this one
only feeds them and acts on what they say.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from monitor.budget import Budget, BudgetPolicy
from monitor.cadence import regular_generate_interval
from monitor.config import Config
from monitor.fate_hooks import SharedFate
from monitor.health import HealthBook, HealthState, Sample, State
from monitor.interfaces import Gauge, GaugeRow, Kind, PriceUnit, ProbeResult, StateRow
from monitor.job import ProbeJob
from monitor.lifecycle import ServedModelEvent
from monitor.lifecycle_hooks import LifecycleHooks, incident_entries, primary_sources
from monitor.metrics import Metrics
from monitor.pipeline import (
    ROUTING_HISTORY,
    RecentResults,
    Replayed,
    ResultPipeline,
    cadence_policy,
    evaluate_routes,
    health_policy,
    replay,
)
from monitor.pricing.engine import PricingEngine
from monitor.route_slices import by_model, evaluate_in_slices
from monitor.routing import RoutingEngine
from monitor.runner import Runner
from monitor.scheduler import ProbeScheduler
from monitor.shard_keeper import keeper_for
from monitor.store import Store, StoreError, default_sqlite_url
from monitor.writer import ResultWriter

__all__ = ["ROUTING_HISTORY", "RecentResults", "Service", "database_url", "health_policy"]

log = logging.getLogger(__name__)


def database_url(config: Config) -> str:
    """``PROVMON_DATABASE_URL`` wins over the config; SQLite under the data dir by default."""
    return (
        os.environ.get("PROVMON_DATABASE_URL")
        or config.database_url
        or default_sqlite_url(os.environ.get("PROVMON_DATA_DIR") or config.data_dir)
    )


@dataclass
class Service:
    config: Config
    db_url: str
    started: bool = False

    def __post_init__(self) -> None:
        config = self.config
        self.agent = f"{config.vantage}:{socket.gethostname()}:{os.getpid()}"
        self.store = Store(self.db_url)
        self.metrics = Metrics()
        self.health = HealthBook(health_policy(config))
        self.writer = ResultWriter(self.store, on_drop=self.metrics.results_dropped.inc)
        self.prices = PricingEngine(
            config,
            self.store,
            holder=self.agent,
            on_change=lambda o, s: self.metrics.price_changes.labels(o, s).inc(),
        )
        self.budget = Budget(
            BudgetPolicy(
                daily_usd=config.budget.daily_usd,
                offering_daily_usd=config.budget.offering_daily_usd,
                per_offering_usd=config.budget.per_offering_usd,
                confirm_share=config.budget.confirm_share,
                expiry_s=2 * config.defaults.timeout_seconds,
                # a reservation lives twice its own offering's timeout (issue 12, bug 5)
                expiry_by_offering={
                    o: 2 * config.timeout_for(o)
                    for o in config.enabled_offerings()
                    if config.timeout_for(o) != config.defaults.timeout_seconds
                },
            ),
            self.store,
            config.enabled_offerings(),
        )
        self.cadence = cadence_policy(config)
        self.recent = RecentResults()
        self.routing = RoutingEngine()
        self._offerings = config.enabled_offerings()
        self._models = by_model(self._offerings)  # routing's groups, for its slices
        self.prices.on_usage_change = lambda o, s: self.metrics.price_changes.labels(o, s).inc()
        # issue 16: listings, shutdown dates, served models (monitor/lifecycle_hooks.py)
        self.lifecycle = LifecycleHooks(
            config,
            now=_now,
            state_of=lambda o: self.state_of(o).state,
            on_event=self._served_model_changed,
        )
        self.pipeline = ResultPipeline(
            config,
            store=self.writer,
            incidents=self.writer,
            metrics=self.metrics,
            health=self.health,
            recent=self.recent,
            observers=[self.prices, self.lifecycle],
        )
        self.runner = Runner(config, [self.pipeline], prices=self)
        self.scheduler = ProbeScheduler(config, self.run_job, on_skip=self._skipped)
        # several agents on PostgreSQL split the offerings by lease (monitor/shards.py)
        self.shards = keeper_for(config, self.store, self.scheduler, self.agent)
        # issue 17: upstream groups and status feeds (monitor/fate_hooks.py)
        self.fate = SharedFate(config, self.state_of, self.price_of, self._regular_interval)
        self.fate.incident_sink = self.writer.accept_incidents
        self.pipeline.on_state_change = self.fate.state_changed
        self.job = ProbeJob(
            config=config,
            runner=self.runner,
            budget=self.budget,
            scheduler=self.scheduler,
            cadence=self.cadence,
            agent=self.agent,
            price_of=self.price_of,
            state_of=self.state_of,
            on_skip=self._skipped,
            fate=self.fate,
        )
        self.metrics.watch_states(self._state_rows, version=self._states_version)
        self.metrics.add_gauges(self.prices.gauges)
        self.metrics.add_gauges(self.routing.gauges, version=lambda: self.routing.generation)
        self.metrics.add_gauges(self.budget_gauges)
        self.metrics.add_gauges(self.database_gauges)
        self.metrics.add_gauges(self.fate.gauges)
        lifecycle = self.lifecycle  # its gauges re-read when they can have moved (issue 18)
        self.metrics.add_gauges(
            lifecycle.gauges, version=lambda: lifecycle.gauges_version(self.health.changes)
        )
        self.metrics.add_gauges(self.account_gauges, version=self._account_problems)
        self.metrics.init_offerings(config, self.runner.deadline_seconds)
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle ------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Apply migrations, then rebuild state from the store: prices, health, history."""
        await asyncio.to_thread(self.store.upgrade)
        state = Replayed(
            health=self.health, prices=self.prices, recent=self.recent, routing=self.routing
        )
        await asyncio.to_thread(replay, self.store, self.config, _now(), into=state)
        await asyncio.to_thread(self.budget.refresh, _now())
        # after the replay, so replayed results do not reopen old incidents
        self.pipeline.listen()
        # issue 17: the group incidents still open carry on (monitor/fate_hooks.py)
        try:
            held = await asyncio.to_thread(self.store.incidents, open_only=True, limit=1000)
        except StoreError:
            held = []
        self.fate.resume({row.offering for row in held}, _now())

    async def start(self, *, schedule: bool = True) -> None:
        if not self.started:
            await self.prepare()
        self.writer.start()
        if schedule:
            if self.shards is None:
                # on the loop, while no probe runs yet; an agent that splits a vantage
                # does not: a read before its keeper's first round would show every
                # offering, and the first scrape would send that stale view
                self.metrics.prime()
            self.scheduler.add_price_jobs(self.refresh_prices)
            if self.shards is not None:  # adds the jobs of the shards it takes
                self._tasks.append(asyncio.create_task(self.shards.run()))
            self.scheduler.start()
            self._every(self.config.routing.evaluate_seconds, self._evaluate_routes_async)
            self._every(60.0, self._refresh_budget)
            for name, feed in self.config.status_feeds.items():
                self._every(feed.interval_seconds, functools.partial(self.poll_feed, name))
            self.lifecycle.schedule(self._every, self.runner)
            if self.config.retention.enabled:  # issue 18: rollups, then raw results pruned
                self._every(self.config.retention.prune_interval_seconds, self.prune_history)
            self._tasks.append(asyncio.create_task(self.lifecycle.first_reads(self.runner)))
        self.started = True

    async def stop(self, grace: float = 10.0) -> None:
        """Stop scheduling; let in-flight probes finish for ``grace`` seconds, then cancel
        them (they are stored as cancelled); flush every result to the store."""
        self.job.stopping = True  # jobs the scheduler already handed out send nothing now
        self.scheduler.pause()  # hands out no more
        # jobs handed out but not started yet start now, see stopping and end; cancelled
        # before their first step, APScheduler would log each as an error
        await asyncio.sleep(0)
        self.scheduler.shutdown()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace

        def busy() -> set[asyncio.Task[object]]:  # scheduled jobs and probes run by hand
            return self.scheduler.jobs_in_progress | self.runner.in_flight

        if busy():
            log.info("waiting up to %.0fs for %d probes in flight", grace, len(busy()))
        while busy() and loop.time() < deadline:
            await asyncio.wait(busy(), timeout=deadline - loop.time())
        still = busy()
        for job in still:
            job.cancel()
        if still:
            await asyncio.wait(still, timeout=5)
        if self.prices.leader:
            with contextlib.suppress(Exception):
                await self.prices.release()
        if self.shards is not None:  # the other agents take over at once
            with contextlib.suppress(Exception):
                await self.shards.release()
        await self.writer.stop()
        await self.runner.aclose()
        await self.fate.aclose()
        await self.lifecycle.aclose()
        self.store.dispose()
        self.started = False

    def _every(self, seconds: float, step: Callable[[], Awaitable[None]]) -> None:
        async def loop() -> None:
            while True:
                await asyncio.sleep(seconds)
                try:
                    await step()
                except StoreError as exc:
                    log.warning("periodic %s skipped: %s", getattr(step, "__name__", step), exc)
                except Exception:
                    log.exception("periodic %s failed", getattr(step, "__name__", step))

        self._tasks.append(asyncio.create_task(loop()))

    def _state_rows(self) -> Iterable[StateRow]:
        """Offering states for ``/metrics``; agents splitting a vantage export only the
        offerings they probe (another agent's view of the rest would be stale), once the
        keeper runs (a service that does not schedule probes exports every offering)."""
        rows = self.pipeline.state_rows()
        keeper = self.shards
        if keeper is None or not keeper.rounds:
            return rows
        return (r for r in rows if keeper.holds(r.offering))

    def _states_version(self) -> object:
        keeper = self.shards
        if keeper is None:
            return self.health.changes
        return (self.health.changes, keeper.generation, bool(keeper.rounds))

    def database_away(self) -> str | None:
        """Why the database is away (one line, no credentials), or None while it answers:
        the store's last operation failed, or the writer holds results waiting for it."""
        if self.store.away is not None:
            return self.store.away
        if self.writer.failing:
            return f"{len(self.writer.buffer)} results waiting for the database"
        return None

    def database_gauges(self) -> Iterable[GaugeRow]:
        up = 0.0 if self.database_away() else 1.0
        yield GaugeRow(name=Gauge.DATABASE_UP, labels={}, value=up)

    # -- probes ---------------------------------------------------------------------------

    def price_of(self, offering: str) -> Decimal | None:
        """What a paid probe of the offering costs now (the runner's CostLookup)."""
        return self.prices.price_of(offering)

    def rates_of(self, offering: str) -> Mapping[PriceUnit, Decimal]:
        """The offering's listed rates by unit (the runner prices reported usage with them)."""
        return self.prices.rates_of(offering)

    def state_of(self, offering: str) -> HealthState:
        return self.health.get(offering, self.config.vantage)

    async def run_job(self, offering: str, kind: Kind) -> ProbeResult | None:
        """The scheduler's unit of work (:class:`monitor.job.ProbeJob`); as ``probe_once``,
        one probe now, drawing on the budget like a scheduled one."""
        return await self.job.run(offering, kind)

    probe_once = run_job

    def replan(self, offering: str, kinds: tuple[Kind, ...] = tuple(Kind)) -> None:
        """Move the offering's next probes to when the cadence says (adaptive cadence)."""
        self.job.replan(offering, kinds=kinds)

    def observe_passive(self, offering: str, vantage: str, sample: Sample) -> None:
        self.pipeline.observe_passive(offering, vantage, sample)
        self.replan(offering)
        self.replan_siblings(offering)

    # -- issue 17: shared fate and status feeds (decisions in monitor/fate.py, feeds.py) --

    def replan_siblings(self, offering: str) -> None:
        self.job.replan_siblings(offering)

    async def poll_feed(self, name: str) -> None:
        """Read one status feed; offerings an incident newly covers are re-planned (one
        early paid confirmation each), never marked down by it."""
        for offering in sorted(await self.fate.poll(name)):
            self.replan(offering)

    def _skipped(self, offering: str, reason: str) -> None:
        self.metrics.skipped.labels(offering, reason).inc()

    # -- prices, budget, routes -----------------------------------------------------------

    def account_gauges(self) -> Iterable[GaugeRow]:
        """``provmon_offering_account_problem`` for every offering (0 when fine), so the
        alert and the outage alert's exception always have a series to read."""
        config = self.config
        for offering in config.enabled_offerings():
            labels = {
                "offering": offering,
                "provider": config.provider_of(offering),
                "model": config.model_of(offering),
                "vantage": config.vantage,
            }
            problem = self.state_of(offering).account_problem
            yield GaugeRow(name=Gauge.ACCOUNT_PROBLEM, labels=labels, value=float(problem))

    def _account_problems(self) -> frozenset[tuple[str, str]]:
        # the version of account_gauges: one walk of the states, not 10,000 label rows
        return frozenset(k for k, s in self.health.states.items() if s.account_problem)

    def _regular_interval(self, offering: str, price: Decimal, now: dt.datetime) -> float:
        """A member's regular paid-probe interval as its cadence will use it (the budget's
        pace within the cadence's bounds): the group staggers members by these."""
        budget = self.budget.regular_interval(offering, price, now)
        return regular_generate_interval(self.state_of(offering), self.cadence, budget)

    def _served_model_changed(self, event: ServedModelEvent) -> None:
        """A silent redirect or a new snapshot: on the incident list, counted for the
        board, and the offering's prices read again (the new model has its own price)."""
        self.metrics.served_model_changes.labels(event.offering).inc()
        state = self.state_of(event.offering).state
        self.writer.accept_incidents(incident_entries(event, self.config.vantage, state))
        if self.started:
            for source in primary_sources(self.config, [event.offering]):
                self._tasks.append(asyncio.create_task(self.refresh_prices(source)))

    async def refresh_prices(self, source: str) -> None:
        try:
            report = await self.prices.refresh(source)
        except StoreError as exc:
            log.warning("pricing source %s not refreshed: %s", source, exc)
            return
        if report.skipped:
            log.info("pricing source %s skipped: %s", source, report.skipped)
        elif not report.ok:
            log.warning("pricing source %s failed: %s", source, "; ".join(report.failures))

    async def prune_history(self) -> None:
        """Roll up complete hours and prune raw results past ``retention.raw_days``."""
        days = self.config.retention.raw_days
        report = await asyncio.to_thread(self.store.prune, _now(), raw_days=days)
        log.info(
            "history: %d hours rolled up, %d raw results pruned",
            report.hours_rolled,
            report.rows_deleted,
        )

    async def _refresh_budget(self) -> None:
        # other agents' spend too: the gauges show the deployment's budget
        await asyncio.to_thread(self.budget.refresh, dt.datetime.now(dt.UTC))

    def budget_gauges(self) -> Iterable[GaugeRow]:
        for scope, cap, left in self.budget.gauge_rows():
            labels = {"scope": scope}
            yield GaugeRow(name=Gauge.BUDGET, labels=labels, value=cap)
            yield GaugeRow(name=Gauge.BUDGET_REMAINING, labels=labels, value=left)

    async def _evaluate_routes_async(self) -> None:
        # issue 18: most of a second of Python at 10,000 offerings: on the loop in slices
        await evaluate_in_slices(self.routing, **self._routing_inputs(), groups=self._models)

    def evaluate_routes(self, now: dt.datetime | None = None) -> None:
        """One routing evaluation over the current prices, states and windows, in one go."""
        inputs = self._routing_inputs(now)
        self.recent.trim(inputs["now"])
        evaluate_routes(self.routing, **inputs)

    def _routing_inputs(self, now: dt.datetime | None = None) -> dict[str, Any]:
        now = now or _now()

        def state_of(offering: str) -> State:
            # past its shutdown time an offering leaves routing (not at the first 404)
            routable = self.lifecycle.routable(offering, now)
            return self.state_of(offering).state if routable else State.RETIRED

        return {
            "now": now,
            "offerings": self._offerings,
            "price_of": self.price_of,
            "state_of": state_of,
            "recent": self.recent,
        }


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
