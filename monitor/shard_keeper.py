"""The agent's side of splitting offerings by lease: renew, take and give up shards
(decisions in ``monitor.shards``, rows through the store), and add or remove the
offerings' jobs in the scheduler as shards are gained and lost.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable

from monitor.config import Config
from monitor.scheduler import ProbeScheduler
from monitor.shards import (
    AGENT_PREFIX,
    SHARD_PREFIX,
    Holdings,
    Lease,
    agent_name,
    alive_agents,
    plan_shards,
    shard_name,
    shard_of,
)
from monitor.store import Store, StoreError

log = logging.getLogger(__name__)

#: a given-up lease ends this long after its jobs were removed: a probe whose job passed
#: the gate just before (on the event loop, while this runs in a worker thread) has
#: started by then, so the next holder's first slot is after it
RELEASE_SLACK = dt.timedelta(seconds=0.5)
#: a heartbeat row this long expired is deleted (each agent start adds one)
FORGET_AFTER = dt.timedelta(days=1)


class ShardKeeper:
    """Holds this agent's shards of the vantage's offerings."""

    def __init__(
        self,
        config: Config,
        store: Store,
        scheduler: ProbeScheduler,
        agent: str,
        *,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.config = config
        self.store = store
        self.scheduler = scheduler
        self.agent = agent
        self.now = now
        settings = config.agents
        self.shards = settings.shards
        self.ttl = dt.timedelta(seconds=settings.lease_ttl_seconds)
        self.every = settings.renew_every
        self.holdings = Holdings()
        self.by_shard: dict[int, list[str]] = defaultdict(list)
        self.shard_by_offering: dict[str, int] = {}
        for offering in config.enabled_offerings():
            n = shard_of(offering, self.shards)
            self.by_shard[n].append(offering)
            self.shard_by_offering[offering] = n
        vantage = config.vantage
        self.heartbeat = agent_name(vantage, agent)
        self._names = {shard_name(vantage, n): n for n in range(self.shards)}
        self._shard_prefix = f"{SHARD_PREFIX}:{vantage}:"
        self._agent_prefix = f"{AGENT_PREFIX}:{vantage}:"
        #: the last plan's share: shards per alive agent
        self.quota = 0
        self.rounds = 0
        #: moves whenever shards are gained or lost (the state metrics re-read then)
        self.generation = 0
        self.closed = False
        scheduler.sharded = True
        scheduler.gate = self.may_probe

    def may_probe(self, offering: str, when: dt.datetime) -> bool:
        shard = self.shard_by_offering.get(offering)
        return shard is not None and self.holdings.may_probe(shard, when)

    @property
    def held(self) -> frozenset[int]:
        return frozenset(self.holdings.until)

    def offerings(self) -> list[str]:
        """The offerings of the shards held now."""
        return sorted(o for n in self.holdings.until for o in self.by_shard.get(n, ()))

    def round(self) -> None:
        """One round (blocking; run in a worker thread): heartbeat, read the rows, renew
        and take what the plan says, give up the surplus, then update the jobs."""
        now = self.now()
        self.store.claim_leases([self.heartbeat], self.agent, now=now, ttl=self.ttl)
        if self.rounds % 100 == 0:  # the heartbeats of agents gone for a day
            self.store.forget_leases(self._agent_prefix, ended_before=now - FORGET_AFTER)
        self.rounds += 1
        rows = self.store.leases_named(self._agent_prefix) + self.store.leases_named(
            self._shard_prefix
        )
        heartbeats = {
            name: Lease(holder, expires)
            for name, holder, expires in rows
            if name.startswith(self._agent_prefix)
        }
        leases = {
            self._names[name]: Lease(holder, expires)
            for name, holder, expires in rows
            if name in self._names
        }
        plan = plan_shards(
            self.agent, self.shards, alive_agents(self.agent, heartbeats, now), leases, now
        )
        self.quota = plan.quota
        if plan.release:
            # jobs first, then the rows: no probe of ours starts after the lease ends
            self._lose(plan.release)
            self.store.expire_leases(
                [shard_name(self.config.vantage, n) for n in plan.release],
                self.agent,
                now=self.now() + RELEASE_SLACK,
            )
        if self.closed:
            return
        wanted = [shard_name(self.config.vantage, n) for n in (*plan.renew, *plan.take)]
        got = self.store.claim_leases(wanted, self.agent, now=now, ttl=self.ttl)
        until = now + self.ttl
        lost = [n for n in self.holdings.until if shard_name(self.config.vantage, n) not in got]
        self._lose(lost)
        for name, before in got.items():
            n = self._names[name]
            # (also when we still list it: another agent held it while our rounds failed)
            if n not in self.holdings.until or (before is not None and before[0] != self.agent):
                # a lease (ours or another agent's) ended at ``before``: start after that
                # slot, so its last probes and our first are never in the same slot
                self._gain(n, before[1] if before is not None else None, now)
            self.holdings.until[n] = until

    def holds(self, offering: str) -> bool:
        """True while this agent schedules the offering (its shard is held)."""
        return self.shard_by_offering.get(offering) in self.holdings.until

    def _gain(self, shard: int, after: dt.datetime | None, now: dt.datetime) -> None:
        self.generation += 1
        for offering in self.by_shard.get(shard, ()):
            self.scheduler.add_offering(offering, now=now, after=after)
        log.info("holding shard %d (%d offerings)", shard, len(self.by_shard.get(shard, ())))

    def _lose(self, shards: tuple[int, ...] | list[int]) -> None:
        self.generation += 1
        for shard in shards:
            self.holdings.until.pop(shard, None)
            for offering in self.by_shard.get(shard, ()):
                self.scheduler.remove_offering(offering)
            log.info("gave up shard %d", shard)

    async def run(self) -> None:
        """A round every ``renew_seconds`` until cancelled (the first one now); a round
        that fails because the database is away keeps what is held (see
        :meth:`hold_through_outage`); any other failure lets the fence stop probing when the
        leases run out."""
        while True:
            try:
                await asyncio.to_thread(self.round)
            except StoreError as exc:
                log.warning("shard leases not renewed: %s", exc)
                self.hold_through_outage()
            except Exception:
                log.exception("shard lease round failed")
            await asyncio.sleep(self.every)

    def hold_through_outage(self) -> None:
        """The database is away, so no agent can coordinate: keep probing the shards held
        until it returns, rather than go blind (only free control probes run meanwhile: a
        paid probe needs the ledger). The first round after it returns gives up any shard
        another agent took, which can only happen if this agent alone lost the database."""
        until = self.now() + self.ttl
        for shard, expiry in self.holdings.until.items():
            self.holdings.until[shard] = max(expiry, until)

    async def release(self) -> None:
        """Give every shard and the heartbeat up (clean shutdown, after the scheduler's):
        the others take over at once."""
        self.closed = True  # a round still running in its thread claims nothing more
        held = list(self.holdings.until)
        self.holdings.until.clear()
        names = [shard_name(self.config.vantage, n) for n in held] + [self.heartbeat]
        ended = self.now() + RELEASE_SLACK
        await asyncio.to_thread(self.store.expire_leases, names, self.agent, now=ended)


def keeper_for(
    config: Config, store: Store, scheduler: ProbeScheduler, agent: str
) -> ShardKeeper | None:
    """A keeper when offerings are split by lease (``agents.split``; by default whenever
    the database is PostgreSQL); None: this agent schedules every offering."""
    split = config.agents.split
    if split is None:
        split = not store.is_sqlite
    return ShardKeeper(config, store, scheduler, agent) if split else None
