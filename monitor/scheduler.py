"""Scheduling: APScheduler 3.x on asyncio, one job per offering and probe kind.

Each job calls a single unit of work (``run_probe(offering, kind)``). ``max_instances=1``
so a slow provider never stacks probes; ``coalesce`` so a backlog runs once; a misfire
grace of half the interval (APScheduler's 1 s default is tuned for another workload).
Missed and overlapping runs are counted as skipped probes. Every job runs in its own
task, so a hung provider never delays another provider's probes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.config import Config
from monitor.interfaces import Kind

log = logging.getLogger(__name__)

JobFunc = Callable[[str, Kind], Awaitable[Any]]
SkipFunc = Callable[[str, str], None]


def job_id(offering: str, kind: Kind) -> str:
    return f"{kind.value}:{offering}"


class ProbeScheduler:
    def __init__(
        self,
        config: Config,
        run: JobFunc,
        *,
        on_skip: SkipFunc | None = None,
        first_run_within: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.run = run
        self.on_skip = on_skip or (lambda offering, reason: None)
        self.first_run_within = first_run_within
        self.rng = rng or random.Random()
        self.scheduler = AsyncIOScheduler(timezone=dt.UTC)
        #: jobs in progress (reservation, probe, settlement), for a shutdown to wait on
        self.jobs_in_progress: set[asyncio.Task[Any]] = set()
        self.scheduler.add_listener(self._skipped, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)

    def _skipped(self, event: JobEvent) -> None:
        kind, _, offering = str(event.job_id).partition(":")
        if kind == "prices":
            log.warning("price refresh of %s skipped: the previous one is still running", offering)
            return
        reason = "missed" if event.code == EVENT_JOB_MISSED else "overlap"
        # counted in provmon_probes_skipped_total; every adaptive back-off overlaps the
        # interval grid, so a warning here was noise (issue 13)
        log.debug("%s probe of %s skipped: %s", kind, offering, reason)
        self.on_skip(offering, reason)

    async def _job(self, offering: str, kind: Kind) -> None:
        # APScheduler's shutdown cancels every job it is running; the probe runs in a task
        # of its own, so it goes on and the service's stop gives it its grace period (and
        # stores it as cancelled only when that passes) instead of throwing away a probe
        # that may already be billed
        probe = asyncio.ensure_future(self.run(offering, kind))
        self.jobs_in_progress.add(probe)
        probe.add_done_callback(self.jobs_in_progress.discard)
        try:
            await asyncio.shield(probe)
        except asyncio.CancelledError:
            if not probe.done():
                log.info("%s probe of %s still in flight at shutdown", kind, offering)

    def add_jobs(self) -> int:
        """One job per enabled offering and kind; the first run is spread over a few seconds."""
        now = dt.datetime.now(dt.UTC)
        count = 0
        for offering in self.config.enabled_offerings():
            for kind in Kind:
                schedule = self.config.schedule_for(offering, kind.value)
                if not schedule.enabled:
                    continue
                # spread the first runs over the interval (at most first_run_within seconds),
                # so a thousand offerings do not all fire in the same burst
                spread = min(schedule.interval_seconds, self.first_run_within)
                first = now + dt.timedelta(seconds=self.rng.uniform(0, spread))
                self.scheduler.add_job(
                    self._job,
                    IntervalTrigger(
                        seconds=schedule.interval_seconds,
                        jitter=schedule.jitter_seconds or None,
                        start_date=first,
                        timezone=dt.UTC,
                    ),
                    args=[offering, kind],
                    id=job_id(offering, kind),
                    name=job_id(offering, kind),
                    max_instances=1,
                    coalesce=True,
                    misfire_grace_time=max(1, int(schedule.interval_seconds / 2)),
                    next_run_time=first,
                    replace_existing=True,
                )
                count += 1
        return count

    def add_price_jobs(self, refresh: Callable[[str], Awaitable[Any]]) -> int:
        """One job per pricing source on its own interval, jittered by 10 % (at most 5 min)."""
        now = dt.datetime.now(dt.UTC)
        for name, source in self.config.pricing_sources.items():
            every = source.interval_seconds
            first = now + dt.timedelta(seconds=self.rng.uniform(0, min(every, 5.0)))
            self.scheduler.add_job(
                refresh,
                IntervalTrigger(
                    seconds=every, jitter=min(300.0, every / 10), start_date=first, timezone=dt.UTC
                ),
                args=[name],
                id=f"prices:{name}",
                name=f"prices:{name}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(every / 2)),
                next_run_time=first,
                replace_existing=True,
            )
        return len(self.config.pricing_sources)

    def move(self, offering: str, kind: Kind, when: dt.datetime) -> None:
        """Run this job next at ``when`` (adaptive cadence); no-op if the job does not exist."""
        job = self.scheduler.get_job(job_id(offering, kind))
        if job is not None:
            job.modify(next_run_time=when)

    def start(self) -> None:
        self.add_jobs()
        self.scheduler.start()

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    def pause(self) -> None:
        """Fire no more jobs (those running go on)."""
        if self.scheduler.running:
            self.scheduler.pause()

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
