"""Splitting a vantage's offerings by lease: the pure decisions (monitor/shards.py), the
lease rows on SQLite and PostgreSQL, the slot grid of the scheduler, the config section."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

import pytest

from monitor.config import ConfigError, parse_config
from monitor.scheduler import SlotTrigger
from monitor.shards import (
    Holdings,
    Lease,
    agent_name,
    alive_agents,
    first_fire,
    next_fire,
    phase_of,
    plan_shards,
    shard_of,
    slot_of,
)

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(seconds=20)
EARLIER = NOW - dt.timedelta(seconds=1)


def test_offerings_spread_over_shards_stably() -> None:
    offerings = [f"fal/model-{i}" for i in range(4000)]
    counts = Counter(shard_of(o, 16) for o in offerings)
    assert set(counts) == set(range(16))
    assert max(counts.values()) < 2 * min(counts.values())
    assert [shard_of(o, 16) for o in offerings[:50]] == [shard_of(o, 16) for o in offerings[:50]]


def test_a_lone_agent_takes_every_shard() -> None:
    plan = plan_shards("a", 8, {"a"}, {}, NOW)
    assert plan.take == tuple(range(8)) and plan.renew == () and plan.release == ()


def test_agents_share_and_a_newcomer_gets_its_share() -> None:
    held_by_a = {n: Lease("a", LATER) for n in range(8)}
    # b joins: nothing is free, so b takes nothing yet; a, seeing b alive, gives up half
    assert plan_shards("b", 8, {"a", "b"}, held_by_a, NOW).take == ()
    plan_a = plan_shards("a", 8, {"a", "b"}, held_by_a, NOW)
    assert plan_a.renew == (0, 1, 2, 3) and plan_a.release == (4, 5, 6, 7)
    after = {n: Lease("a", LATER if n < 4 else NOW) for n in range(8)}
    assert plan_shards("b", 8, {"a", "b"}, after, NOW + dt.timedelta(seconds=1)).take == (
        4,
        5,
        6,
        7,
    )


def test_a_dead_agents_shards_are_taken_when_its_leases_expire() -> None:
    leases = {n: Lease("a" if n % 2 else "b", LATER) for n in range(6)}
    heartbeats = {"x": Lease("a", LATER), "y": Lease("b", LATER)}
    # a's heartbeat still valid: b keeps its share
    alive = alive_agents("b", heartbeats, NOW)
    assert plan_shards("b", 6, alive, leases, NOW).take == ()
    # past the expiry: a is not alive, its shards are free, b takes all of them
    after = LATER + dt.timedelta(seconds=1)
    alive = alive_agents("b", {"y": Lease("b", after + dt.timedelta(seconds=20))}, after)
    renewed = {
        n: (Lease("b", after + dt.timedelta(seconds=20)) if n % 2 == 0 else lease)
        for n, lease in leases.items()
    }
    plan = plan_shards("b", 6, alive, renewed, after)
    assert plan.take == (1, 3, 5) and plan.renew == (0, 2, 4)


def test_three_agents_hold_at_most_their_share() -> None:
    leases: dict[int, Lease] = {}
    for agent in ("a", "b", "c"):
        for n in plan_shards(agent, 10, {"a", "b", "c"}, leases, NOW).take:
            leases[n] = Lease(agent, LATER)
    counts = Counter(lease.holder for lease in leases.values())
    assert sorted(counts.values()) == [2, 4, 4] and len(leases) == 10
    # next round, c (below its share of 4) takes nothing more: none is free
    assert plan_shards("c", 10, {"a", "b", "c"}, leases, NOW).take == ()


def test_a_new_holder_starts_at_the_first_grid_time_after_the_old_expiry() -> None:
    interval, phase = 10.0, 3.0
    # the old holder (fenced at ...005) probed at ...003; its next grid time is ours
    at = first_fire(1_000_004.0, interval, phase, 1_000_005.0)
    assert at == 1_000_013.0 and slot_of(at, interval) == slot_of(1_000_003.0, interval) + 1
    # expired before this slot's grid time: the old holder never reached it
    assert first_fire(1_000_001.5, interval, phase, 1_000_001.0) == 1_000_003.0
    # without an old holder: the next grid time from now
    assert first_fire(1_000_001.0, interval, phase, None) == 1_000_003.0
    assert next_fire(1_000_003.0, interval, phase) == 1_000_013.0


def test_slot_trigger_stays_in_its_slot_with_jitter_and_after_a_move() -> None:
    interval, jitter = 30.0, 3.0
    phase = phase_of("control:fal/x", interval, jitter)
    assert 0 <= phase < interval - jitter - 5
    trigger = SlotTrigger(interval, phase, jitter, random.Random(1))
    at = dt.datetime.fromtimestamp(1_800_000_000 + phase, dt.UTC)
    slots = []
    for _ in range(50):
        at = trigger.get_next_fire_time(at, at)
        slots.append(slot_of(at.timestamp(), interval))
    assert slots == list(range(slots[0], slots[0] + 50))
    moved = at + dt.timedelta(seconds=0.25)  # a confirmation probe in the same slot
    back = trigger.get_next_fire_time(moved, moved)
    assert slot_of(back.timestamp(), interval) == slots[-1] + 1


def test_the_fence_stops_at_the_lease_expiry_less_the_margin() -> None:
    holdings = Holdings(until={3: LATER})
    assert holdings.may_probe(3, NOW)
    assert not holdings.may_probe(3, LATER - dt.timedelta(seconds=0.5))
    assert not holdings.may_probe(4, NOW)


def test_heartbeat_names_are_short_and_distinct() -> None:
    long = "eu-west:" + "h" * 300 + ":12345"
    assert len(agent_name("eu-west", long)) <= 100
    assert agent_name("eu-west", "a") != agent_name("eu-west", "b")


def test_claims_on_the_database(store: object) -> None:
    from monitor.store import Store

    assert isinstance(store, Store)
    ttl = dt.timedelta(seconds=20)
    names = ["probe-shard:v:0", "probe-shard:v:1"]
    assert store.claim_leases(names, "a", now=NOW, ttl=ttl) == dict.fromkeys(names)
    # held by a: b gets nothing; a renews and sees its own previous expiry
    assert store.claim_leases(names, "b", now=NOW + dt.timedelta(seconds=5), ttl=ttl) == {}
    renewed = store.claim_leases(names[:1], "a", now=NOW + dt.timedelta(seconds=5), ttl=ttl)
    assert renewed == {names[0]: ("a", LATER)}
    # a gives shard 1 up: b takes it and learns when a's lease ended
    store.expire_leases(names[1:], "a", now=NOW + dt.timedelta(seconds=6))
    taken = store.claim_leases(names, "b", now=NOW + dt.timedelta(seconds=7), ttl=ttl)
    assert taken == {names[1]: ("a", NOW + dt.timedelta(seconds=6))}
    rows = {name: holder for name, holder, _ in store.leases_named("probe-shard:v:")}
    assert rows == {names[0]: "a", names[1]: "b"}
    assert store.leases_named("probe-shard:w:") == []


def test_agents_section_errors_name_the_key() -> None:
    from monitor.catalogs import load_catalog

    data = load_catalog("imagen4").model_dump(mode="json", exclude_unset=True)
    assert parse_config({**data, "agents": {"shards": 8}}, origin="t").agents.shards == 8
    with pytest.raises(ConfigError, match=r"agents\.shard_count"):
        parse_config({**data, "agents": {"shard_count": 8}}, origin="t")
    with pytest.raises(ConfigError, match="agents"):
        parse_config({**data, "agents": {"lease_ttl_seconds": 10, "renew_seconds": 8}}, origin="t")


def test_slot_trigger_always_moves_forward_through_rounding() -> None:
    for seed in range(200):
        rng = random.Random(seed)
        interval = rng.choice([0.5, 1.0, 7.0, 30.0, 3600.0])
        trigger = SlotTrigger(interval, rng.uniform(0, interval / 2), 0.0, rng)
        at = dt.datetime.fromtimestamp(1_800_000_000 + rng.uniform(0, 1e4), dt.UTC)
        for _ in range(5):
            following = trigger.get_next_fire_time(at, at)
            assert following > at
            at = following


def test_old_heartbeats_are_forgotten(store: object) -> None:
    from monitor.store import Store

    assert isinstance(store, Store)
    ttl = dt.timedelta(seconds=20)
    store.claim_leases(["probe-agent:v:old"], "old", now=NOW - dt.timedelta(days=2), ttl=ttl)
    store.claim_leases(["probe-agent:v:new", "probe-shard:v:0"], "new", now=NOW, ttl=ttl)
    assert store.forget_leases("probe-agent:v:", ended_before=NOW - dt.timedelta(days=1)) == 1
    assert {n for n, _, _ in store.leases_named("probe-")} == {
        "probe-agent:v:new",
        "probe-shard:v:0",
    }


class FakeScheduler:
    """What the keeper calls on the scheduler: the offerings it was told to schedule."""

    def __init__(self) -> None:
        self.jobs: dict[str, dt.datetime | None] = {}
        self.sharded = False
        self.gate: object = None

    def add_offering(
        self, offering: str, *, now: dt.datetime, after: dt.datetime | None = None
    ) -> int:
        self.jobs[offering] = after
        return 1

    def remove_offering(self, offering: str) -> None:
        self.jobs.pop(offering, None)


def test_keepers_join_split_and_take_over_a_dead_one(store: object) -> None:
    from monitor.catalogs import load_catalog
    from monitor.shard_keeper import ShardKeeper
    from monitor.store import Store

    assert isinstance(store, Store)
    clock = [NOW]
    config = load_catalog("imagen4").model_copy(
        update={"agents": load_catalog("imagen4").agents.model_copy(update={"shards": 6})}
    )
    everything = set(config.enabled_offerings())
    a_jobs, b_jobs = FakeScheduler(), FakeScheduler()
    a = ShardKeeper(config, store, a_jobs, "a", now=lambda: clock[0])  # type: ignore[arg-type]
    b = ShardKeeper(config, store, b_jobs, "b", now=lambda: clock[0])  # type: ignore[arg-type]

    def tick(*keepers: ShardKeeper, seconds: float = 5) -> None:
        for keeper in keepers:
            keeper.round()
        clock[0] += dt.timedelta(seconds=seconds)

    tick(a)
    assert set(a_jobs.jobs) == everything and a.held == frozenset(range(6))
    tick(b, a)  # b's heartbeat; a gives up half
    tick(b, a)  # b takes what a gave up
    assert a.held and b.held and not a.held & b.held and len(a.held | b.held) == 6
    assert set(a_jobs.jobs) | set(b_jobs.jobs) == everything
    assert not set(a_jobs.jobs) & set(b_jobs.jobs)
    # b starts a's former offerings after the moment a's lease ended
    assert all(after is not None for after in b_jobs.jobs.values())
    assert a.may_probe(sorted(a_jobs.jobs)[0], clock[0])
    # a dies: its leases run out (20 s), then b holds everything
    died = clock[0]
    for _ in range(6):
        tick(b)
    assert b.held == frozenset(range(6)) and set(b_jobs.jobs) == everything
    assert not a.may_probe(sorted(a_jobs.jobs)[0], died + dt.timedelta(seconds=20))


def test_a_database_outage_keeps_the_held_shards_and_a_taken_one_is_given_up(
    store: object,
) -> None:
    """With the database away no agent can coordinate: the keeper keeps probing what it
    holds past the lease time; if another agent took a shard meanwhile (this agent alone lost
    the database), the first round back gives it up."""
    from monitor.catalogs import load_catalog
    from monitor.shard_keeper import ShardKeeper
    from monitor.store import Store

    assert isinstance(store, Store)
    clock = [NOW]
    config = load_catalog("imagen4").model_copy(
        update={"agents": load_catalog("imagen4").agents.model_copy(update={"shards": 4})}
    )
    a_jobs, b_jobs = FakeScheduler(), FakeScheduler()
    a = ShardKeeper(config, store, a_jobs, "a", now=lambda: clock[0])  # type: ignore[arg-type]
    a.round()
    offering = sorted(a_jobs.jobs)[0]
    # the database goes away for a minute: every failed round holds on
    for _ in range(12):
        clock[0] += dt.timedelta(seconds=5)
        a.hold_through_outage()
    assert a.may_probe(offering, clock[0] + dt.timedelta(seconds=5))
    assert a.held == frozenset(range(4))
    # meanwhile b (which could reach the database) took everything over
    b = ShardKeeper(config, store, b_jobs, "b", now=lambda: clock[0])  # type: ignore[arg-type]
    b.round()
    assert b.held == frozenset(range(4))
    clock[0] += dt.timedelta(seconds=1)
    a.round()  # a is back: b's leases are valid, so a gives every shard up
    assert a.held == frozenset() and a_jobs.jobs == {}
    assert not a.may_probe(offering, clock[0])
