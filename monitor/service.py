"""Wiring: config to store, runner, engines, scheduler and the HTTP server, in one process.

One process owns the scheduler, the probes and ``/metrics`` (several workers would each
schedule probes, and custom collectors do not work across processes).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from monitor.config import Config
from monitor.health import HealthBook, HealthState, Sample
from monitor.interfaces import Kind, Phase, ProbeResult
from monitor.metrics import Metrics, StateRow
from monitor.runner import Runner
from monitor.scheduler import ProbeScheduler
from monitor.store import Store, default_sqlite_url
from monitor.writer import ResultWriter

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
        self.runner = Runner(self.config, [self.writer, self.metrics, self.health_sink])
        self.scheduler = ProbeScheduler(
            self.config,
            self.runner.run_probe,
            on_skip=lambda offering, reason: self.metrics.skipped.labels(offering, reason).inc(),
        )
        self.metrics.watch_states(self.health_sink.rows)
        self.metrics.init_offerings(self.config, self.runner.deadline_seconds)

    async def prepare(self) -> None:
        """Apply migrations and replay recent results into the health engine."""
        await asyncio.to_thread(self.store.upgrade)
        recent = await asyncio.to_thread(self.store.recent_results, limit=2000)
        for result in reversed(recent):
            if result.vantage == self.config.vantage:
                self.health_sink.accept(result)

    async def start(self, *, schedule: bool = True) -> None:
        await self.prepare()
        self.writer.start()
        if schedule:
            self.scheduler.start()
        self.started = True

    def state_of(self, offering: str) -> HealthState:
        return self.health.get(offering, self.config.vantage)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop scheduling; let in-flight probes finish for ``grace`` seconds, then cancel
        them (they are stored as cancelled); flush every result to the store."""
        self.scheduler.shutdown()
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
