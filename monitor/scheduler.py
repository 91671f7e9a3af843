"""Scheduling: APScheduler 3.x on asyncio, one job per offering and probe kind.

Each job calls a single unit of work (``run_probe(offering, kind)``). ``max_instances=1``
so a slow provider never stacks probes; ``coalesce`` so a backlog runs once; a misfire
grace of half the interval (APScheduler's 1 s default is tuned for another workload).
Missed and overlapping runs are counted as skipped probes. Every job runs in its own
task, so a hung provider never delays another provider's probes.

Probe times sit on a grid (:class:`SlotTrigger`): slot ``s`` of a job fires at ``s *
interval + phase``, the phase a stable hash of the job, so thousands of offerings spread
evenly over the interval and every agent agrees on when an offering's slot is probed
(``monitor.shards``). Several agents add and remove an offering's jobs as they gain and
lose its shard (:meth:`ProbeScheduler.add_offering`, :meth:`~ProbeScheduler.remove_offering`)
and ``gate`` refuses a job whose shard lease is no longer valid when it starts.
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
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.config import Config
from monitor.interfaces import Kind
from monitor.shards import first_fire, next_fire, phase_of

log = logging.getLogger(__name__)

JobFunc = Callable[[str, Kind], Awaitable[Any]]
SkipFunc = Callable[[str, str], None]


def job_id(offering: str, kind: Kind) -> str:
    return f"{kind.value}:{offering}"


def _at(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


class SlotTrigger(BaseTrigger):  # type: ignore[misc]
    """Fires at ``s * interval + phase (+ a jitter that stays inside the slot)``: after a
    moved run (adaptive cadence) the job returns to its grid."""

    def __init__(self, interval: float, phase: float, jitter: float, rng: random.Random) -> None:
        self.interval = interval
        self.phase = phase
        self.jitter = max(0.0, min(jitter, interval - phase, interval / 2))
        self.rng = rng

    def get_next_fire_time(
        self, previous_fire_time: dt.datetime | None, now: dt.datetime
    ) -> dt.datetime:
        if previous_fire_time is None:
            after = now.timestamp() - 1e-6
        else:  # a datetime holds microseconds: a grid time read back may come out early
            after = previous_fire_time.timestamp() + 1e-3
        at = next_fire(after, self.interval, self.phase)
        if self.jitter:
            at += self.rng.uniform(0, self.jitter)
        return _at(at)

    def __str__(self) -> str:
        return f"slot[{self.interval:g}s+{self.phase:.3f}]"


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
        #: refuses a job at its start (several agents: its shard's lease no longer valid)
        self.gate: Callable[[str, dt.datetime], bool] | None = None
        #: several agents split the offerings: ``start`` adds none, the shard keeper does
        self.sharded = False
        self._slack: dict[str, float] = {}
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
        probe = asyncio.ensure_future(self._gated(offering, kind))
        self.jobs_in_progress.add(probe)
        probe.add_done_callback(self.jobs_in_progress.discard)
        try:
            await asyncio.shield(probe)
        except asyncio.CancelledError:
            if not probe.done():
                log.info("%s probe of %s still in flight at shutdown", kind, offering)

    async def _gated(self, offering: str, kind: Kind) -> Any:
        # checked in the probe's own task, in the same step in which the probe starts
        if self.gate is not None and not self.gate(offering, dt.datetime.now(dt.UTC)):
            log.debug("%s probe of %s not sent: its shard lease is not held", kind, offering)
            return None
        return await self.run(offering, kind)

    def add_jobs(self) -> int:
        """One job per enabled offering and kind (see :meth:`add_offering`)."""
        now = dt.datetime.now(dt.UTC)
        return sum(self.add_offering(o, now=now) for o in self.config.enabled_offerings())

    def add_offering(
        self, offering: str, *, now: dt.datetime | None = None, after: dt.datetime | None = None
    ) -> int:
        """Add the offering's jobs. ``after``: another agent's lease on it ended then, so
        the first run is in a slot after that one; else the first grid time from now, or
        (when that is further than ``first_run_within``) a random time within it."""
        now = now or dt.datetime.now(dt.UTC)
        count = 0
        for kind in Kind:
            schedule = self.config.schedule_for(offering, kind.value)
            if not schedule.enabled:
                continue
            every, jitter = schedule.interval_seconds, schedule.jitter_seconds or 0.0
            key = job_id(offering, kind)
            trigger = SlotTrigger(every, phase_of(key, every, jitter), jitter, self.rng)
            old = after.timestamp() if after is not None else None
            first = _at(first_fire(now.timestamp(), every, trigger.phase, old))
            if after is None and (first - now).total_seconds() > self.first_run_within:
                # a long interval: a first look soon rather than up to an interval away
                first = now + dt.timedelta(seconds=self.rng.uniform(0, self.first_run_within))
            self._slack[key] = min(1.0, every / 10) + trigger.jitter
            self.scheduler.add_job(
                self._job,
                trigger,
                args=[offering, kind],
                id=key,
                name=key,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(every / 2)),
                next_run_time=first,
                replace_existing=True,
            )
            count += 1
        return count

    def remove_offering(self, offering: str) -> None:
        """Remove the offering's jobs (runs in progress go on)."""
        for kind in Kind:
            key = job_id(offering, kind)
            self._slack.pop(key, None)
            if self.scheduler.get_job(key) is not None:
                self.scheduler.remove_job(key)

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
        key = job_id(offering, kind)
        job = self.scheduler.get_job(key)
        if job is None:
            return
        current = job.next_run_time
        # a regular re-plan (last start + interval) lands on the grid time already set,
        # give or take the start drift and the jitter: leave the grid alone (a modify
        # wakes the scheduler: at thousands of offerings that is CPU for nothing)
        if current is not None and abs((when - current).total_seconds()) < self._slack.get(
            key, 0.0
        ):
            return
        job.modify(next_run_time=when)

    def start(self) -> None:
        if not self.sharded:
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
