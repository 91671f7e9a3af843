"""Rolling windows: what counts as success, error or neither, and which samples fall in."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from monitor.interfaces import Kind, Outcome, Phase, ProbeResult
from monitor.outcomes import AVAILABILITY, Verdict, quantile
from monitor.windows import W5M, W30M, WINDOWS, ResultLike, WindowBook, WindowStats, pick_window

NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
OFFERING = "fal/imagen-4.0-generate-001"


def result(
    minutes_ago: float,
    outcome: Outcome = Outcome.OK,
    *,
    total: float = 5.0,
    kind: Kind = Kind.GENERATE,
    offering: str = OFFERING,
    cancelled: bool = False,
) -> ProbeResult:
    return ProbeResult(
        probe_id=f"p{minutes_ago}-{outcome}",
        offering=offering,
        provider=offering.partition("/")[0],
        model=offering.partition("/")[2],
        vantage="test",
        kind=kind,
        outcome=outcome,
        started_at=NOW - dt.timedelta(minutes=minutes_ago),
        phases={Phase.TOTAL: total},
        cancelled=cancelled,
    )


def window_stats(
    results: Iterable[ResultLike],
    now: dt.datetime,
    *,
    kinds: Iterable[Kind] = (Kind.GENERATE,),
    offerings: Iterable[str] = (),
) -> dict[str, dict[str, WindowStats]]:
    """The windows of a book holding ``results``: the product's one path."""
    return WindowBook.of(results, kinds=kinds).stats(now, offerings=offerings)


def walk(
    results: Sequence[ResultLike], now: dt.datetime, *, offerings: Iterable[str] = ()
) -> dict[str, dict[str, WindowStats]]:
    """The same numbers by brute force, the book's oracle: every window filters every
    result again (generate probes, not cancelled)."""
    counted = [r for r in results if r.kind == Kind.GENERATE and not r.cancelled]
    out: dict[str, dict[str, WindowStats]] = {}
    for offering in sorted({*(r.offering for r in counted), *offerings}):
        out[offering] = {}
        for w in WINDOWS:
            since = now - dt.timedelta(seconds=w.seconds)
            inside = [r for r in counted if r.offering == offering and since < r.started_at <= now]
            verdicts = [AVAILABILITY[r.outcome] for r in inside]
            latencies = [
                r.phases[Phase.TOTAL]
                for r in inside
                if r.outcome == Outcome.OK and Phase.TOTAL in r.phases
            ]
            out[offering][w.name] = WindowStats(
                offering=offering,
                window=w.name,
                successes=verdicts.count(Verdict.SUCCESS),
                errors=verdicts.count(Verdict.ERROR),
                rate_limited=sum(r.outcome == Outcome.RATE_LIMITED for r in inside),
                content_filtered=verdicts.count(Verdict.NEUTRAL),
                p50_s=quantile(latencies, 0.50),
                p95_s=quantile(latencies, 0.95),
            )
    return out


def test_success_ratio_is_successes_over_successes_plus_errors() -> None:
    results = [result(1), result(2), result(3, Outcome.SERVER_ERROR), result(4, Outcome.TIMEOUT)]
    stats = window_stats(results, NOW)[OFFERING]["5m"]
    assert (stats.successes, stats.errors, stats.samples) == (2, 2, 4)
    assert stats.success_ratio == 0.5


def test_rate_limits_count_as_errors_and_are_reported_on_their_own() -> None:
    results = [result(1), result(2, Outcome.RATE_LIMITED)]
    stats = window_stats(results, NOW)[OFFERING]["5m"]
    assert stats.errors == 1
    assert stats.rate_limited == 1
    assert stats.success_ratio == 0.5


def test_content_filtering_counts_as_neither_success_nor_error() -> None:
    results = [result(1), result(2, Outcome.CONTENT_FILTERED)]
    stats = window_stats(results, NOW)[OFFERING]["5m"]
    assert stats.samples == 1
    assert stats.content_filtered == 1
    assert stats.success_ratio == 1.0


def test_control_probes_and_cancelled_probes_are_left_out_by_default() -> None:
    results = [
        result(1),
        result(2, Outcome.CONNECT_ERROR, kind=Kind.CONTROL),
        result(3, Outcome.TIMEOUT, cancelled=True),
    ]
    assert window_stats(results, NOW)[OFFERING]["5m"].samples == 1
    both = window_stats(results, NOW, kinds=(Kind.GENERATE, Kind.CONTROL))
    assert both[OFFERING]["5m"].samples == 2


def test_each_window_holds_only_results_that_started_inside_it() -> None:
    results = [result(1), result(10, Outcome.SERVER_ERROR), result(120), result(60 * 25)]
    stats = window_stats(results, NOW)[OFFERING]
    assert stats["5m"].samples == 1
    assert stats["30m"].samples == 2
    assert stats["1d"].samples == 3
    assert window_stats([result(-1)], NOW)[OFFERING]["5m"].samples == 0


def test_latency_percentiles_use_successful_totals_only() -> None:
    results = [result(i * 0.1, total=float(i)) for i in range(1, 21)]
    results.append(result(0.05, Outcome.TIMEOUT, total=120.0))
    stats = window_stats(results, NOW)[OFFERING]["5m"]
    assert stats.p50_s == 10.0
    assert stats.p95_s == 19.0


def test_configured_offerings_without_results_get_empty_stats() -> None:
    stats = window_stats([], NOW, offerings=["vertex/imagen-4.0-generate-001"])
    empty = stats["vertex/imagen-4.0-generate-001"]["30m"]
    assert empty.samples == 0
    assert empty.success_ratio is None
    assert empty.p95_s is None


def test_pick_window_prefers_the_shortest_window_with_enough_samples() -> None:
    short = WindowStats(offering=OFFERING, window=W5M.name, successes=3)
    longer = WindowStats(offering=OFFERING, window=W30M.name, successes=12)
    day = WindowStats(offering=OFFERING, window="1d", successes=40)
    stats = {"5m": short, "30m": longer, "1d": day}
    assert pick_window(stats, min_samples=10) is longer
    assert pick_window(stats, min_samples=2) is short
    assert pick_window(stats, min_samples=100) is day
    assert pick_window({"5m": WindowStats(offering=OFFERING, window="5m")}, min_samples=1) is None


def test_quantile_is_nearest_rank() -> None:
    assert quantile([], 0.5) is None
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.95) == 4.0


def test_the_services_compact_day_of_results_gives_the_same_windows() -> None:
    from monitor.service import RecentResults

    results = [
        result(1),
        result(2, total=9.0),
        result(3, Outcome.SERVER_ERROR),
        result(4, Outcome.RATE_LIMITED),
        result(6, Outcome.TIMEOUT, total=120.0),
        result(7, kind=Kind.CONTROL),  # not kept: a control call says nothing of generation
        result(8, cancelled=True),  # not kept
        result(40),
    ]
    recent = RecentResults()
    for r in reversed(results):  # in the order they finish, oldest first
        recent.accept(r)
    assert len(recent.results) == 6
    assert recent.book.stats(NOW) == WindowBook.of(recent.results).stats(NOW)
    assert recent.book.stats(NOW) == walk(results, NOW)
    recent.trim(NOW + dt.timedelta(days=1, minutes=-5))  # older than a day: dropped
    assert len(recent.results) == 4


def test_the_incremental_book_equals_a_walk_at_every_evaluation() -> None:
    """Results land out of order (a slow probe finishes after a faster, later one), the
    clock moves on by uneven steps over two days: at every evaluation the book's numbers are
    a brute-force walk's over everything added so far, counts and quantiles alike."""
    import random

    rng = random.Random(18)
    offerings = [f"fal/model-{i}" for i in range(4)]
    outcomes = [Outcome.OK] * 6 + [
        Outcome.SERVER_ERROR,
        Outcome.RATE_LIMITED,
        Outcome.CONTENT_FILTERED,
        Outcome.TIMEOUT,
    ]
    book, added = WindowBook(), []
    clock = NOW - dt.timedelta(days=2)
    for step in range(400):
        clock += dt.timedelta(seconds=rng.choice([5, 30, 90, 600, 3600]))
        for _ in range(rng.randint(0, 6)):
            started = clock - dt.timedelta(seconds=rng.uniform(0, 900))
            r = ProbeResult(
                probe_id=f"p{step}-{len(added)}",
                offering=rng.choice(offerings),
                provider="fal",
                model="m",
                vantage="test",
                kind=rng.choice([Kind.GENERATE, Kind.GENERATE, Kind.CONTROL]),
                outcome=rng.choice(outcomes),
                started_at=started,
                phases={Phase.TOTAL: round(rng.uniform(1, 60), 1)} if rng.random() > 0.1 else {},
                cancelled=rng.random() < 0.05,
            )
            book.add(r)
            added.append(r)
        if step % 3 == 0:
            expected = walk(added, clock, offerings=["extra/none"])
            assert book.stats(clock, offerings=["extra/none"]) == expected


def test_the_book_forgets_what_every_window_has_left() -> None:
    book = WindowBook()
    for minute in range(3 * 24 * 60, 0, -1):  # three days, a result a minute
        book.add(result(minute))
    book.stats(NOW)
    kept = len(book._tracks[OFFERING].at)
    assert 24 * 60 - 1 <= kept < 2 * 24 * 60
    assert book.stats(NOW)[OFFERING]["1d"].successes == 24 * 60 - 1


def test_a_clock_going_back_still_counts_what_the_book_keeps() -> None:
    results = [result(1), result(10, Outcome.SERVER_ERROR), result(20)]
    book = WindowBook()
    for r in results:
        book.add(r)
    later = NOW + dt.timedelta(minutes=15)
    assert book.stats(later) == walk(results, later)
    assert book.stats(NOW) == walk(results, NOW)
