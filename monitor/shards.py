"""How agents of one vantage split its offerings: pure decisions, no I/O.

Offerings are hashed into ``S`` shards per vantage. Each agent holds leases on shards
(rows ``probe-shard:<vantage>:<n>`` in the store's ``leases`` table) and schedules only
the offerings of the shards it holds. Every agent also keeps a heartbeat lease
(``probe-agent:<vantage>:<digest of the agent id>``); the agents whose heartbeat has not
expired are the alive ones, and each holds at most ``ceil(S / alive)`` shards.

No offering is probed twice for the same slot (``slot = floor(time / interval)``):

- an agent starts a probe only while its lease on the offering's shard is valid at the
  probe's start (:meth:`Holdings.may_probe`, with a margin for clock skew);
- an agent that takes a shard another agent held starts each of its offerings at the
  first grid time after the old lease's expiry (:func:`first_fire`); the old holder, fenced
  at that expiry, never reached that grid time, and a slot holds one grid time, so the
  old holder's scheduled probes and the new holder's are in different slots.

Probe times sit on a grid: slot ``s`` of an offering's job fires at ``s * interval +
phase``, where the phase is a stable hash of the job (the same in every agent), so the
probes of thousands of offerings are spread evenly over the interval.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

SHARD_PREFIX = "probe-shard"
AGENT_PREFIX = "probe-agent"


def _fraction(key: str) -> float:
    """A stable number in [0, 1) from ``key`` (the same in every process and run)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def shard_of(offering: str, shards: int) -> int:
    """The shard an offering belongs to (stable across agents, runs and restarts)."""
    return int(_fraction(f"shard:{offering}") * shards)


def shard_name(vantage: str, shard: int) -> str:
    return f"{SHARD_PREFIX}:{vantage}:{shard}"


def agent_name(vantage: str, agent: str) -> str:
    """The heartbeat lease of one agent (a digest: host names can be long)."""
    return f"{AGENT_PREFIX}:{vantage}:{hashlib.blake2b(agent.encode(), digest_size=10).hexdigest()}"


def phase_of(key: str, interval: float, jitter: float = 0.0) -> float:
    """Seconds into each slot at which the job ``key`` fires: hashed over the part of the
    slot that leaves room for ``jitter`` and for a late start (a quarter of the slot, at
    most 5 s), so a jittered or late probe still starts in its own slot."""
    late = min(interval / 4, 5.0)
    room = max(0.0, interval - min(jitter + late, interval / 2))
    return _fraction(f"phase:{key}") * room


def slot_of(when: float, interval: float) -> int:
    return math.floor(when / interval)


def next_fire(after: float, interval: float, phase: float) -> float:
    """The first grid time (``s * interval + phase``) strictly after ``after``."""
    slot = math.floor((after - phase) / interval) + 1
    return slot * interval + phase


def first_fire(now: float, interval: float, phase: float, old_expiry: float | None) -> float:
    """Where a newly held job starts: the first grid time at or after ``now`` and after
    ``old_expiry``, when another agent held the shard until then. The old holder started
    nothing at or after its expiry, so it never reached that grid time: the slot is ours.
    (Its off-grid probes — an adaptive confirmation — may share the slot.)"""
    return next_fire(max(now, old_expiry or now) - 1e-9, interval, phase)


@dataclass(frozen=True)
class Lease:
    holder: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class ShardPlan:
    """One round's decision: shards to renew (held by us), to take (free or expired), to
    give up (above our fair share while another alive agent has less)."""

    renew: tuple[int, ...] = ()
    take: tuple[int, ...] = ()
    release: tuple[int, ...] = ()
    quota: int = 0


def alive_agents(me: str, heartbeats: Mapping[str, Lease], now: dt.datetime) -> frozenset[str]:
    """Agents whose heartbeat lease is valid now; this agent always counts."""
    return frozenset({me} | {h.holder for h in heartbeats.values() if h.expires_at > now})


def plan_shards(
    me: str,
    shards: int,
    alive: Iterable[str],
    leases: Mapping[int, Lease],
    now: dt.datetime,
) -> ShardPlan:
    """Which shards ``me`` should hold after this round.

    ``leases`` are the current shard rows (missing: never held). Each alive agent holds
    up to ``ceil(shards / alive)``: we renew what we hold up to that, take free or expired
    shards (our own expired ones first, then the lowest) while below it, and give up the
    rest, so that a joining agent gets its share (above the share, some other alive agent
    is below its own)."""
    agents = set(alive) | {me}
    quota = math.ceil(shards / len(agents))
    mine = sorted(n for n, lease in leases.items() if lease.holder == me and n < shards)
    valid_mine = [n for n in mine if leases[n].expires_at > now]
    expired_mine = [n for n in mine if leases[n].expires_at <= now]
    free = [
        n
        for n in range(shards)
        if (n not in leases or leases[n].expires_at <= now) and n not in expired_mine
    ]
    renew = valid_mine[:quota]
    release = valid_mine[quota:]
    take = (expired_mine + free)[: max(0, quota - len(renew))]
    return ShardPlan(
        renew=tuple(renew), take=tuple(sorted(take)), release=tuple(release), quota=quota
    )


@dataclass
class Holdings:
    """The shards this agent holds, each with the lease expiry it last wrote."""

    margin: dt.timedelta = dt.timedelta(seconds=1)
    until: dict[int, dt.datetime] = field(default_factory=dict)

    def may_probe(self, shard: int, when: dt.datetime) -> bool:
        """True while the shard's lease is valid at ``when`` (less the clock margin)."""
        expiry = self.until.get(shard)
        return expiry is not None and when < expiry - self.margin
