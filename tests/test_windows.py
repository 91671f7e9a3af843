"""Rolling windows: what counts as success, error or neither, and which samples fall in."""

from __future__ import annotations

import datetime as dt

from monitor.interfaces import Kind, Outcome, Phase, ProbeResult
from monitor.outcomes import quantile
from monitor.windows import W5M, W30M, WindowStats, pick_window, window_stats

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
    assert window_stats(recent.results, NOW) == window_stats(results, NOW)
    recent.trim(NOW + dt.timedelta(days=1, minutes=-5))  # older than a day: dropped
    assert len(recent.results) == 4
