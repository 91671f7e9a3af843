"""A probe job, the scheduler's unit of work: price snapshot -> reserve -> run -> settle ->
re-plan.

A paid probe's price is read once, when the job starts, and that snapshot travels with
the probe: the amount reserved against the budget, the ``cost_usd`` the runner stores and
``provmon_probe_spend_usd_total`` (fed from that result) are the same number, even when a
price refresh lands while the probe runs. The re-plan that ends the job paces the next paid
probe by the same snapshot.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from monitor.budget import Budget, Reservation
from monitor.cadence import CadencePolicy, plan, plan_generate
from monitor.config import Config
from monitor.fate import FateView
from monitor.health import HealthState
from monitor.interfaces import Kind, ProbeResult
from monitor.runner import Runner
from monitor.scheduler import ProbeScheduler
from monitor.store import StoreError

if TYPE_CHECKING:
    from monitor.fate_hooks import SharedFate

log = logging.getLogger(__name__)

#: how long a probe the budget refused waits before it asks again
BUDGET_RETRY = dt.timedelta(seconds=300)


@dataclass(frozen=True, kw_only=True)
class PriceSnapshot:
    """What one paid probe costs, read once when its job starts."""

    offering: str
    amount: Decimal
    taken_at: dt.datetime


class ProbeJob:
    """Runs probes for the scheduler (and for ``probe_once``), drawing on the budget.

    ``price_of`` is the live price book, ``state_of`` the health engine's current state,
    ``on_skip(offering, reason)`` counts a probe not sent. Set :attr:`stopping` when the
    service shuts down: jobs handed out after that send nothing."""

    def __init__(
        self,
        *,
        config: Config,
        runner: Runner,
        budget: Budget,
        scheduler: ProbeScheduler,
        cadence: CadencePolicy,
        agent: str,
        price_of: Callable[[str], Decimal | None],
        state_of: Callable[[str], HealthState],
        on_skip: Callable[[str, str], None],
        fate: SharedFate | None = None,
    ) -> None:
        self.config = config
        self.runner = runner
        self.budget = budget
        self.scheduler = scheduler
        self.cadence = cadence
        self.agent = agent
        self.price_of = price_of
        self.state_of = state_of
        self.on_skip = on_skip
        #: the offering's upstream group and status feeds (issue 17), when configured
        self.fate = fate
        self.stopping = False

    def snapshot(self, offering: str, now: dt.datetime) -> PriceSnapshot | None:
        """The offering's price now, or None when none is known (the probe is skipped)."""
        amount = self.price_of(offering)
        if not amount:
            return None
        return PriceSnapshot(offering=offering, amount=amount, taken_at=now)

    async def run(self, offering: str, kind: Kind) -> ProbeResult | None:
        """One job. Every generate probe is billed, so its snapshot price is reserved before
        it is sent; when no cap admits it (or the ledger is away), it is skipped with reason
        ``budget``, never sent. Returns the result, or None when nothing was sent."""
        if self.stopping:
            return None
        snapshot: PriceSnapshot | None = None
        reservation: Reservation | None = None
        if kind == Kind.GENERATE:
            now = dt.datetime.now(dt.UTC)
            snapshot = self.snapshot(offering, now)
            if snapshot is None:
                self.on_skip(offering, "no_price")
                return None
            reservation = await self._reserve(snapshot, now)
            if reservation is None:
                self.on_skip(offering, "budget")
                self.scheduler.move(offering, kind, now + BUDGET_RETRY)
                return None
            if self.fate is not None:  # the group's staggered turn moves on
                self.fate.sent(offering, now)
            if self.stopping:  # shutdown began while the money was being reserved
                await asyncio.to_thread(self.budget.settle, reservation, False, now)
                return None
        price = snapshot.amount if snapshot is not None else None
        try:
            result = await self.runner.run_probe(offering, kind, price=price)
        except asyncio.CancelledError:
            if reservation is not None:  # it may have been billed: keep it spent
                await asyncio.shield(
                    asyncio.to_thread(
                        self.budget.settle, reservation, True, dt.datetime.now(dt.UTC)
                    )
                )
            raise
        if reservation is not None:
            await self._settle(reservation, result)
        self.replan(offering, price)
        if kind == Kind.GENERATE:  # the group reads generate tiers and paid sends only
            self.replan_siblings(offering)
        return result

    async def _reserve(self, snapshot: PriceSnapshot, now: dt.datetime) -> Reservation | None:
        offering = snapshot.offering
        interval = self.budget.regular_interval(offering, snapshot.amount, now)
        fate = self._fate(offering, now)
        purpose = plan_generate(self.state_of(offering), self.cadence, now, interval, fate).purpose
        try:
            return await asyncio.to_thread(
                self.budget.reserve,
                offering,
                self.config.provider_of(offering),
                snapshot.amount,
                self.agent,
                now,
                purpose,
            )
        except StoreError as exc:
            # no ledger, no paid probe: the cap must hold even while the database is away
            log.warning("paid probe of %s skipped, budget unavailable: %s", offering, exc)
            return None

    async def _settle(self, reservation: Reservation, result: ProbeResult) -> None:
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
            log.warning("could not settle the probe of %s: %s", reservation.offering, exc)

    def _fate(self, offering: str, now: dt.datetime) -> FateView | None:
        return self.fate.view(offering, now) if self.fate is not None else None

    def replan_siblings(self, offering: str) -> None:
        """A sample of one member can ask its siblings for an early paid probe (or move
        their staggered turn)."""
        if self.fate is not None:
            for sibling in self.fate.siblings(offering):
                self.replan(sibling, kinds=(Kind.GENERATE,))

    def replan(
        self, offering: str, price: Decimal | None = None, *, kinds: tuple[Kind, ...] = tuple(Kind)
    ) -> None:
        """Move the offering's next probes to when the cadence says (adaptive cadence);
        ``price``: the job's snapshot, else the price now."""
        if not self.scheduler.running:
            return
        now = dt.datetime.now(dt.UTC)
        state = self.state_of(offering)
        for kind in kinds:
            if not self.config.schedule_for(offering, kind.value).enabled:
                continue
            fate: FateView | None = None
            interval = self.cadence.generate_max_interval_s  # what a control plan ignores
            if kind == Kind.GENERATE:  # the price and the budget matter to paid probes only
                fate = self._fate(offering, now)
                price = price if price is not None else self.price_of(offering)
                if price:
                    interval = self.budget.regular_interval(offering, price, now)
            at = plan(kind, state, self.cadence, now, interval, fate).at
            # the job calling this is still running: never fire into max_instances
            self.scheduler.move(offering, kind, max(at, now + dt.timedelta(seconds=0.2)))
