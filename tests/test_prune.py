"""Retention on SQLite and PostgreSQL: raw results past ``retention.raw_days`` become hourly
rollups holding exactly what they replace; pruning is idempotent and safe to run at once
from two processes; late results still count; ``provmon db prune`` does it from the shell."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import threading
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from monitor.config import Config, ConfigError, parse_config
from monitor.history import QUANTILE_ERROR, Tally, hour_of
from monitor.interfaces import Kind, Outcome, Phase, ProbeResult
from monitor.outcomes import quantile
from monitor.store import ProbeRow, Store
from tests.test_cli import provmon

NOW = dt.datetime(2026, 11, 20, 12, 30, tzinfo=dt.UTC)
OFFERINGS = ("fal/imagen-4.0-generate-001", "replicate/imagen-4.0-generate-001")
OUTCOMES = [Outcome.OK] * 7 + [
    Outcome.SERVER_ERROR,
    Outcome.RATE_LIMITED,
    Outcome.CONTENT_FILTERED,
    Outcome.TIMEOUT,
]


def history(n: int, days: float, seed: int = 18) -> list[ProbeResult]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        outcome = rng.choice(OUTCOMES)
        out.append(
            ProbeResult(
                probe_id=f"h{seed}-{i}",
                offering=rng.choice(OFFERINGS),
                provider="fal",
                model="imagen-4.0-generate-001",
                vantage=rng.choice(["eu", "us"]),
                kind=rng.choice([Kind.GENERATE, Kind.CONTROL]),
                outcome=outcome,
                started_at=NOW - dt.timedelta(seconds=rng.uniform(0, days * 86_400)),
                phases={Phase.TOTAL: round(rng.uniform(0.5, 40), 3)} if rng.random() > 0.05 else {},
                cost_usd=Decimal("0.04") if outcome == Outcome.OK else Decimal(0),
                cancelled=rng.random() < 0.03,
            )
        )
    return out


def single(probe_id: str, started_at: dt.datetime, kind: Kind, outcome: Outcome) -> ProbeResult:
    """One result of the first offering, at vantage ``eu``, without phases."""
    return ProbeResult(
        probe_id=probe_id,
        offering=OFFERINGS[0],
        provider="fal",
        model="imagen-4.0-generate-001",
        vantage="eu",
        kind=kind,
        outcome=outcome,
        started_at=started_at,
        phases={},
    )


def tallies(results: list[ProbeResult], key: Callable[[ProbeResult], Any]) -> dict[Any, Tally]:
    """The raw results tallied by ``key``: what rollups and history must hold."""
    out: dict[Any, Tally] = {}
    for r in results:
        out.setdefault(key(r), Tally()).add(
            r.outcome, r.phases.get(Phase.TOTAL), int(r.cost_usd * 1_000_000), r.cancelled
        )
    return out


def expected(results: list[ProbeResult]) -> dict[tuple[str, str], Tally]:
    """Per (offering, kind), as ``Store.history`` answers."""
    return tallies(results, lambda r: (r.offering, str(r.kind)))


def fill(store: Store, results: list[ProbeResult]) -> None:
    for r in results:
        store.save_result(r)


def same_counts(a: Tally, b: Tally) -> bool:
    return (a.ok, a.content_filtered, a.rate_limited, a.errors, a.cancelled, a.cost_micro_usd) == (
        b.ok,
        b.content_filtered,
        b.rate_limited,
        b.errors,
        b.cancelled,
        b.cost_micro_usd,
    )


def test_pruned_hours_keep_exactly_what_their_raw_results_held(store: Store) -> None:
    results = history(400, days=5)
    fill(store, results)
    report = store.prune(NOW, raw_days=2)
    cutoff = hour_of(NOW - dt.timedelta(days=2))
    old = [r for r in results if r.started_at < cutoff]
    assert report.rows_deleted == len(old) > 0
    assert report.pruned_through == cutoff
    assert store.count_results() == len(results) - len(old)
    # every pruned hour's rollups equal a tally of the raw results they replaced
    rolled = store.rollups(until=cutoff)
    assert rolled == tallies(
        old, lambda r: (r.offering, r.vantage, str(r.kind), hour_of(r.started_at))
    )
    # the long-period query over rollups and raw results: every result counted once
    got = store.history(NOW - dt.timedelta(days=6), NOW)
    want = expected(results)
    assert set(got) == set(want)
    for key, tally in want.items():
        assert same_counts(got[key], tally), key
        assert got[key].histogram == tally.histogram
        assert got[key].success_ratio == tally.success_ratio


def test_pruning_twice_changes_nothing_more(store: Store) -> None:
    fill(store, history(200, days=4))
    store.prune(NOW, raw_days=2)
    rollups, left = store.rollups(), store.count_results()
    again = store.prune(NOW, raw_days=2)
    assert again.rows_deleted == 0
    assert store.rollups() == rollups and store.count_results() == left


def test_two_prunes_at_once_count_every_result_once(db_url: str, store: Store) -> None:
    results = history(300, days=5, seed=3)
    fill(store, results)
    stores = [Store(db_url) for _ in range(2)]
    errors: list[BaseException] = []

    def prune(s: Store) -> None:
        try:
            s.prune(NOW, raw_days=2)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=prune, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for s in stores:
        s.dispose()
    assert not errors
    got = store.history(NOW - dt.timedelta(days=6), NOW)
    for key, tally in expected(results).items():
        assert same_counts(got[key], tally), key


def test_late_results_count_in_rolled_and_in_pruned_hours(store: Store) -> None:
    results = history(150, days=4, seed=5)
    fill(store, results)
    store.prune(NOW, raw_days=2)
    late = [
        single(
            f"late-{hours}", NOW - dt.timedelta(hours=hours), Kind.GENERATE, Outcome.SERVER_ERROR
        )
        for hours in (3, 80)  # an hour already rolled up; one already pruned
    ]
    fill(store, late)
    later = NOW + dt.timedelta(minutes=20)
    store.prune(later, raw_days=2)
    assert store.count_results() == sum(
        1 for r in [*results, *late] if r.started_at >= hour_of(later - dt.timedelta(days=2))
    )
    got = store.history(NOW - dt.timedelta(days=6), later)
    for key, tally in expected([*results, *late]).items():
        assert same_counts(got[key], tally), key


def test_the_long_period_quantile_is_within_its_bound(store: Store) -> None:
    results = history(300, days=3, seed=9)
    fill(store, results)
    store.prune(NOW, raw_days=2)
    got = store.history(NOW - dt.timedelta(days=4), NOW, kind="generate")
    assert {kind for _, kind in got} == {"generate"}
    for offering in OFFERINGS:
        exact = quantile(
            [
                r.phases[Phase.TOTAL]
                for r in results
                if r.offering == offering
                and r.kind == Kind.GENERATE
                and r.outcome == Outcome.OK
                and not r.cancelled
                and Phase.TOTAL in r.phases
            ],
            0.95,
        )
        approx = got[(offering, "generate")].quantile(0.95)
        assert exact is not None and approx is not None
        assert abs(approx - exact) <= QUANTILE_ERROR * exact * 1.0001


def test_roll_up_alone_deletes_nothing(store: Store) -> None:
    results = history(120, days=3, seed=11)
    fill(store, results)
    assert store.roll_up(NOW) > 0
    assert store.count_results() == len(results)
    complete = [r for r in results if r.started_at < hour_of(NOW)]
    total = sum(t.results for t in store.rollups().values())
    assert total == len(complete)


def test_provmon_db_prune_applies_the_retention(db_url: str) -> None:
    url = db_url
    s = Store(url)
    s.upgrade()
    now = dt.datetime.now(dt.UTC)
    fill(
        s,
        [
            single(f"cli-{days}", now - dt.timedelta(days=days), Kind.CONTROL, Outcome.OK)
            for days in (1, 10, 40)
        ],
    )
    s.dispose()
    proc = provmon("db", "prune", "--json", env={"PROVMON_DATABASE_URL": url})
    assert proc.returncode == 0, proc.stderr
    done = json.loads(proc.stdout)
    assert done["rows_deleted"] == 1 and done["raw_days"] == 14.0  # the default retention
    proc = provmon("db", "prune", "--raw-days", "5", env={"PROVMON_DATABASE_URL": url})
    assert proc.returncode == 0, proc.stderr
    assert "1 raw results older than 5 days deleted" in proc.stdout
    s = Store(url)
    assert s.count_results() == 1
    # every complete hour is rolled up, those whose raw results are kept too
    assert sum(t.results for t in s.rollups().values()) == 3
    s.dispose()


def test_a_bad_retention_key_names_itself() -> None:
    base: dict[str, Any] = {
        "models": {"m1": {}},
        "providers": {
            "p1": {"protocol": "lumenfall", "base_url": "https://a.test/v1", "credential_env": "K"}
        },
        "offerings": {"p1/m1": {"provider_model": "m1", "expect": {"width": 64, "height": 64}}},
    }
    assert parse_config({**base, "retention": {"raw_days": 30}}).retention.raw_days == 30
    with pytest.raises(ConfigError, match=r"retention\.raw_dayz: unknown key"):
        parse_config({**base, "retention": {"raw_dayz": 3}})
    with pytest.raises(ConfigError, match=r"retention\.raw_days: Input should be greater"):
        parse_config({**base, "retention": {"raw_days": 1}})


def test_every_raw_row_is_accounted_for_by_outcome(store: Store) -> None:
    """Nothing lost, outcome by outcome: rollups + remaining raw rows = what was stored."""
    results = history(250, days=5, seed=21)
    fill(store, results)
    store.prune(NOW, raw_days=2)
    with store._session() as session:
        from sqlmodel import select

        left = Counter(r.outcome for r in session.exec(select(ProbeRow)).all())
    rolled = Tally()
    for t in store.rollups(until=hour_of(NOW - dt.timedelta(days=2))).values():
        rolled.merge(t)
    stored = Counter(str(r.outcome) for r in results)
    assert rolled.results + sum(left.values()) == len(results)
    old = [r for r in results if r.started_at < hour_of(NOW - dt.timedelta(days=2))]
    assert rolled.ok == sum(1 for r in old if r.outcome == Outcome.OK and not r.cancelled)
    assert left["ok"] == stored["ok"] - sum(1 for r in old if r.outcome == Outcome.OK)


async def test_the_service_prunes_on_its_own(sim_config: Config, db_url: str) -> None:
    """Every ``retention.prune_interval_seconds`` the service rolls up and prunes: results
    older than ``raw_days`` go, their rollups stay."""
    from monitor.service import Service
    from tests.conftest import wait_for

    data = sim_config.model_dump(mode="json")
    data["retention"] = {"raw_days": 2, "prune_interval_seconds": 1}
    service = Service(Config.model_validate(data), db_url)
    service.store.upgrade()
    old = history(60, days=1, seed=31)  # ten days before today: past the retention
    fill(service.store, old)

    def pruned() -> bool:
        kept = service.store.recent_results(since=NOW - dt.timedelta(days=2), limit=10_000)
        return not any(r.probe_id.startswith("h31-") for r in kept)

    await service.start()
    try:
        await asyncio.to_thread(wait_for, pruned, 30, 0.2)
    finally:
        await service.stop()
    store = Store(db_url)
    rolled = store.rollups(until=NOW + dt.timedelta(days=1))
    store.dispose()
    assert sum(t.results for t in rolled.values()) == len(old)


def test_a_period_ending_in_the_past_counts_only_what_started_in_it(store: Store) -> None:
    results = history(300, days=5, seed=41)
    fill(store, results)
    store.prune(NOW, raw_days=2)
    since = NOW - dt.timedelta(days=4, minutes=17)
    until = NOW - dt.timedelta(days=1, hours=2, minutes=41)
    got = store.history(since, until)
    # rolled-up periods count whole hours: since's hour from its start, until exactly
    inside = [r for r in results if hour_of(since) <= r.started_at <= until]
    for key, tally in expected(inside).items():
        assert same_counts(got[key], tally), key
