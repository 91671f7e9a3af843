"""Wiring: config to store, runner, engines, scheduler and the HTTP server, in one process.

One process owns the scheduler, the probes and ``/metrics`` (several workers would each
schedule probes, and custom collectors do not work across processes).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from prometheus_client import CollectorRegistry

from monitor.config import Config
from monitor.health import HealthBook, HealthState, Sample
from monitor.interfaces import Kind, Phase, ProbeResult
from monitor.metrics import Metrics, StateRow
from monitor.routing import GAUGE_HELP, RoutingEngine, build_snapshot
from monitor.runner import CostLookup, Runner, StaticPrices
from monitor.scheduler import ProbeScheduler
from monitor.store import Store, default_sqlite_url
from monitor.windows import window_stats
from monitor.writer import ResultWriter

#: how much generate history routing reads (its longest window)
ROUTING_HISTORY = dt.timedelta(days=1)

log = logging.getLogger(__name__)


def database_url(config: Config) -> str:
    """``PROVMON_DATABASE_URL`` wins over the config; SQLite under the data dir by default."""
    return (
        os.environ.get("PROVMON_DATABASE_URL")
        or config.database_url
        or default_sqlite_url(os.environ.get("PROVMON_DATA_DIR") or config.data_dir)
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


@dataclass
class RecentResults:
    """The last day of generate results in memory: what routing's windows are computed from."""

    results: deque[ProbeResult] = field(default_factory=deque)

    def accept(self, result: ProbeResult) -> None:
        if result.kind == Kind.GENERATE and not result.cancelled:
            self.results.append(result)

    def trim(self, now: dt.datetime) -> None:
        while self.results and now - self.results[0].started_at > ROUTING_HISTORY:
            self.results.popleft()


@dataclass
class Service:
    config: Config
    db_url: str
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    started: bool = False

    def __post_init__(self) -> None:
        self.store = Store(self.db_url)
        self.metrics = Metrics(self.registry)
        self.health = HealthBook()
        self.health_sink = HealthSink(self.health, self.config)
        self.writer = ResultWriter(self.store)
        self.prices: CostLookup = StaticPrices(self.config)
        self.recent = RecentResults()
        self.routing = RoutingEngine()
        self.runner = Runner(
            self.config,
            [self.writer, self.metrics, self.health_sink, self.recent],
            prices=self,
        )
        self.scheduler = ProbeScheduler(
            self.config,
            self.runner.run_probe,
            on_skip=lambda offering, reason: self.metrics.skipped.labels(offering, reason).inc(),
        )
        self.metrics.watch_states(self.health_sink.rows)
        self.metrics.add_gauges(self.routing.gauges, GAUGE_HELP)
        self.metrics.init_offerings(self.config, self.runner.deadline_seconds)
        self._tasks: list[asyncio.Task[None]] = []

    def price_of(self, offering: str) -> Decimal | None:
        """What a paid probe of the offering costs now (the runner's CostLookup)."""
        return self.prices.price_of(offering)

    async def prepare(self) -> None:
        """Apply migrations and replay recent results into the health engine."""
        await asyncio.to_thread(self.store.upgrade)
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
        self.evaluate_routes()

    async def start(self, *, schedule: bool = True) -> None:
        await self.prepare()
        self.writer.start()
        if schedule:
            self.scheduler.start()
            self._tasks.append(asyncio.create_task(self._every(
                self.config.routing.evaluate_seconds, self.evaluate_routes), name="routing"))
        self.started = True

    async def _every(self, seconds: float, step: Callable[[], None]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                step()
            except Exception:
                log.exception("periodic %s failed", getattr(step, "__name__", step))

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

    def state_of(self, offering: str) -> HealthState:
        return self.health.get(offering, self.config.vantage)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop scheduling; let in-flight probes finish for ``grace`` seconds, then cancel
        them (they are stored as cancelled); flush every result to the store."""
        self.scheduler.shutdown()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        pending = set(self.runner.in_flight)
        if pending:
            log.info("waiting up to %.0fs for %d probes in flight", grace, len(pending))
            _, still = await asyncio.wait(pending, timeout=grace)
            for task in still:
                task.cancel()
            if still:
                await asyncio.wait(still, timeout=5)
        await self.writer.stop()
        await self.runner.aclose()
        self.store.dispose()
        self.started = False

    async def probe_once(self, offering: str, kind: Kind) -> ProbeResult:
        return await self.runner.run_probe(offering, kind)
