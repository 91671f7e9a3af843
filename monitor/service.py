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
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

from monitor.budget import Budget, BudgetPolicy
from monitor.cadence import CadencePolicy, plan, plan_generate
from monitor.config import Config
from monitor.fate_hooks import FEED_HELP, SharedFate
from monitor.health import HealthBook, HealthPolicy, HealthState, Sample, incident_events
from monitor.interfaces import Kind, Outcome, Phase, ProbeResult
from monitor.metrics import GaugeRow, Metrics, StateRow
from monitor.pricing.engine import HELP as PRICE_HELP
from monitor.pricing.engine import PricingEngine
from monitor.routing import GAUGE_HELP, RoutingEngine, build_snapshot
from monitor.runner import Runner
from monitor.scheduler import ProbeScheduler
from monitor.store import Store, StoreError, default_sqlite_url
from monitor.windows import window_stats
from monitor.writer import ResultWriter

#: how much generate history routing reads (its longest window)
ROUTING_HISTORY = dt.timedelta(days=1)
BUDGET_HELP = {
    "provmon_probe_budget_usd": "Daily cap of paid probes, by scope",
    "provmon_probe_budget_remaining_usd": "Money left today for paid probes, by scope",
}

log = logging.getLogger(__name__)


def database_url(config: Config) -> str:
    """``PROVMON_DATABASE_URL`` wins over the config; SQLite under the data dir by default."""
    return (
        os.environ.get("PROVMON_DATABASE_URL")
        or config.database_url
        or default_sqlite_url(os.environ.get("PROVMON_DATA_DIR") or config.data_dir)
    )


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


@dataclass
class HealthSink:
    book: HealthBook
    config: Config

    def accept(self, result: ProbeResult) -> None:
        if result.cancelled:
            return
        self.book.observe(
            result.offering,
            result.vantage,
            Sample(
                outcome=result.outcome,
                at=result.started_at,
                latency_s=result.phases.get(Phase.TOTAL),
                kind=result.kind.value,
            ),
        )

    def rows(self) -> Iterable[StateRow]:
        for offering in self.config.enabled_offerings():
            state = self.book.get(offering, self.config.vantage)
            yield StateRow(
                offering=offering,
                provider=self.config.provider_of(offering),
                model=self.config.model_of(offering),
                vantage=self.config.vantage,
                state=state.state,
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
    """The last day of generate results in memory: what routing's windows are computed from."""

    results: deque[Recent] = field(default_factory=deque)

    def accept(self, result: ProbeResult) -> None:
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
        self.health_sink = HealthSink(self.health, config)
        self.writer = ResultWriter(self.store)
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
            ),
            self.store,
            config.enabled_offerings(),
        )
        self.cadence = cadence_policy(config)
        self.recent = RecentResults()
        self.routing = RoutingEngine()
        self.runner = Runner(
            config, [self.writer, self.metrics, self.health_sink, self.recent], prices=self
        )
        self.scheduler = ProbeScheduler(config, self.run_job, on_skip=self._skipped)
        # issue 17: upstream groups and status feeds (monitor/fate_hooks.py)
        self.fate = SharedFate(config, self.state_of, self.price_of, self.budget.regular_interval)
        self.metrics.add_gauges(self.fate.gauges, FEED_HELP)
        self.metrics.watch_states(self.health_sink.rows, version=lambda: self.health.changes)
        self.metrics.add_gauges(self.prices.gauges, PRICE_HELP)
        self.metrics.add_gauges(
            self.routing.gauges, GAUGE_HELP, version=lambda: self.routing.generation
        )
        self.metrics.add_gauges(self.budget_gauges, BUDGET_HELP)
        self.metrics.init_offerings(config, self.runner.deadline_seconds)
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._stopping = False

    # -- lifecycle ------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Apply migrations, then rebuild state from the store: prices, health, history."""
        await asyncio.to_thread(self.store.upgrade)
        await self.prices.load()
        recent = await asyncio.to_thread(self.store.recent_results, limit=2000)
        for result in reversed(recent):
            if result.vantage == self.config.vantage:
                self.health_sink.accept(result)
        since = dt.datetime.now(dt.UTC) - ROUTING_HISTORY
        history = await asyncio.to_thread(
            self.store.recent_results, kind="generate", since=since, limit=100_000
        )
        for result in reversed(history):
            self.recent.accept(result)
        await asyncio.to_thread(self.budget.refresh, dt.datetime.now(dt.UTC))
        # after the replay, so replayed results do not reopen old incidents
        self.health.on_change = self._state_changed
        self.evaluate_routes()

    async def start(self, *, schedule: bool = True) -> None:
        if not self.started:
            await self.prepare()
        self.writer.start()
        if schedule:
            self.scheduler.add_price_jobs(self.refresh_prices)
            self.scheduler.start()
            self._every(self.config.routing.evaluate_seconds, self._evaluate_routes_async)
            self._every(60.0, self._refresh_budget)
            for name, feed in self.config.status_feeds.items():
                self._every(feed.interval_seconds, functools.partial(self.poll_feed, name))
        self.started = True

    async def stop(self, grace: float = 10.0) -> None:
        """Stop scheduling; let in-flight probes finish for ``grace`` seconds, then cancel
        them (they are stored as cancelled); flush every result to the store."""
        self._stopping = True  # jobs the scheduler already handed out send nothing now
        self.scheduler.pause()  # hands out no more
        # jobs handed out but not started yet start now, see _stopping and end; cancelled
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
        await self.writer.stop()
        await self.runner.aclose()
        await self.fate.aclose()
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

    # -- probes ---------------------------------------------------------------------------

    def price_of(self, offering: str) -> Decimal | None:
        """What a paid probe of the offering costs now (the runner's CostLookup)."""
        return self.prices.price_of(offering)

    def state_of(self, offering: str) -> HealthState:
        return self.health.get(offering, self.config.vantage)

    async def run_job(self, offering: str, kind: Kind) -> ProbeResult | None:
        """The scheduler's unit of work: reserve (paid probes only), probe, settle, re-plan.

        Every generate probe is billed, so its listed price is reserved before it is sent;
        when no cap admits it, the probe is skipped (reason ``budget``), never sent.
        """
        if self._stopping:
            return None
        reservation = None
        if kind == Kind.GENERATE:
            now = dt.datetime.now(dt.UTC)
            price = self.price_of(offering)
            if not price:
                self.metrics.skipped.labels(offering, "no_price").inc()
                return None
            interval = self.budget.regular_interval(offering, price, now)
            fate = self.fate.view(offering, now)
            state = self.state_of(offering)
            purpose = plan_generate(state, self.cadence, now, interval, fate).purpose
            try:
                reservation = await asyncio.to_thread(
                    self.budget.reserve,
                    offering,
                    self.config.provider_of(offering),
                    price,
                    self.agent,
                    now,
                    purpose,
                )
            except StoreError as exc:
                # no ledger, no paid probe: the cap must hold even while the database is away
                log.warning("paid probe of %s skipped, budget unavailable: %s", offering, exc)
                reservation = None
            if reservation is None:
                self.metrics.skipped.labels(offering, "budget").inc()
                self.scheduler.move(offering, kind, now + dt.timedelta(seconds=300))
                return None
            self.fate.sent(offering, now)
            if self._stopping:  # shutdown began while the money was being reserved
                await asyncio.to_thread(self.budget.settle, reservation, False, now)
                return None
        try:
            result = await self.runner.run_probe(offering, kind)
        except asyncio.CancelledError:
            if reservation is not None:  # it may have been billed: keep it spent
                await asyncio.shield(
                    asyncio.to_thread(
                        self.budget.settle, reservation, True, dt.datetime.now(dt.UTC)
                    )
                )
            raise
        if reservation is not None:
            try:
                await asyncio.to_thread(
                    self.budget.settle_outcome,
                    reservation,
                    result.outcome,
                    dt.datetime.now(dt.UTC),
                    cancelled=result.cancelled,
                )
            except StoreError as exc:
                # left reserved, it expires as spent: never release money that was billed
                log.warning("could not settle the probe of %s: %s", offering, exc)
        self.replan(offering)
        if kind == Kind.GENERATE:  # the group reads generate tiers and paid sends only
            self.replan_siblings(offering)
        return result

    async def probe_once(self, offering: str, kind: Kind) -> ProbeResult | None:
        """One probe now, drawing on the budget like a scheduled one."""
        return await self.run_job(offering, kind)

    def replan(self, offering: str, kinds: tuple[Kind, ...] = tuple(Kind)) -> None:
        """Move the offering's next probes to when the cadence says (adaptive cadence)."""
        if not self.scheduler.running:
            return
        now = dt.datetime.now(dt.UTC)
        state = self.state_of(offering)
        price = self.price_of(offering)
        interval = (
            self.budget.regular_interval(offering, price, now)
            if price
            else self.cadence.generate_max_interval_s
        )
        for kind in kinds:
            if not self.config.schedule_for(offering, kind.value).enabled:
                continue
            fate = self.fate.view(offering, now) if kind == Kind.GENERATE else None
            at = plan(kind, state, self.cadence, now, interval, fate).at
            # the job calling this is still running: never fire into max_instances
            self.scheduler.move(offering, kind, max(at, now + dt.timedelta(seconds=0.2)))

    def observe_passive(self, offering: str, vantage: str, sample: Sample) -> None:
        self.health.observe(offering, vantage, sample)
        self.replan(offering)
        self.replan_siblings(offering)

    # -- issue 17: shared fate and status feeds (decisions in monitor/fate.py, feeds.py) --

    def replan_siblings(self, offering: str) -> None:
        """A sample of one member can ask its siblings for an early probe (or move their
        staggered turn): the same scheduler moves as :meth:`replan`."""
        for sibling in self.fate.siblings(offering):
            self.replan(sibling, (Kind.GENERATE,))

    async def poll_feed(self, name: str) -> None:
        """Read one status feed; offerings an incident newly covers are re-planned (one
        early paid confirmation each), never marked down by it."""
        for offering in sorted(await self.fate.poll(name)):
            self.replan(offering)

    def _skipped(self, offering: str, reason: str) -> None:
        self.metrics.skipped.labels(offering, reason).inc()

    def _state_changed(
        self, offering: str, vantage: str, before: HealthState, after: HealthState
    ) -> None:
        events = incident_events(offering, vantage, before, after)
        if not events:
            return
        log.warning("%s is now %s: %s", offering, after.state, after.reason)
        task = asyncio.get_running_loop().create_task(
            asyncio.to_thread(self.store.save_incident_events, events)
        )
        self._background.add(task)
        task.add_done_callback(self._incident_stored)

    def _incident_stored(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("incident not stored: %s", task.exception())

    # -- prices, budget, routes -----------------------------------------------------------

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

    async def _refresh_budget(self) -> None:
        # other agents' spend too: the gauges show the deployment's budget
        await asyncio.to_thread(self.budget.refresh, dt.datetime.now(dt.UTC))

    def budget_gauges(self) -> Iterable[GaugeRow]:
        for scope, cap, left in self.budget.gauge_rows():
            labels = {"scope": scope}
            yield GaugeRow(name="provmon_probe_budget_usd", labels=labels, value=cap)
            yield GaugeRow(name="provmon_probe_budget_remaining_usd", labels=labels, value=left)

    async def _evaluate_routes_async(self) -> None:
        self.evaluate_routes()

    def evaluate_routes(self, now: dt.datetime | None = None) -> None:
        """One routing evaluation over the current prices, states and windows."""
        now = now or dt.datetime.now(dt.UTC)
        self.recent.trim(now)
        offerings = self.config.enabled_offerings()
        self.routing.evaluate(
            build_snapshot(
                now,
                offerings,
                current_price=self.price_of,
                state_of=lambda o: self.state_of(o).state,
                stats=window_stats(self.recent.results, now, offerings=offerings),
            )
        )
