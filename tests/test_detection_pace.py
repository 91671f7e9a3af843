"""Issue 17: a single offering's paid probes in the benchmark's replay (the product's own
cadence and budget) come as often as the day's money allows, evenly; and the benchmark
says where a target is out of reach by arithmetic instead of hiding it."""

from __future__ import annotations

import itertools
import random
import statistics
from decimal import Decimal
from typing import Any

import pytest

from bench._replay import HOUR, Member, Trace, run_provmon
from bench._worlds import generation_fails, healthy, live_group, scenarios
from bench.detection import detect_bound_s, run_scenario, slowdown_day_usd, target_checks
from monitor.fate import Verdict
from monitor.interfaces import Outcome

FAST = "fal/imagen-4.0-fast-generate-001"


def paid_probe_times(
    price: Decimal, hours: float, *, outage: tuple[float, float] | None = None
) -> tuple[list[tuple[float, Outcome]], Trace]:
    sent: list[tuple[float, Outcome]] = []

    def world(offering: str, kind: str, t: float, rng: random.Random) -> tuple[Outcome, float]:
        failing = outage is not None and outage[0] <= t < outage[1]
        outcome, latency = (generation_fails if failing else healthy)(kind, rng)
        if kind == "generate":
            sent.append((t, outcome))
        return outcome, latency

    replay = run_provmon(
        (Member(offering=FAST, price=price),), world, hours * HOUR, random.Random(7)
    )
    return sent, replay.traces[FAST]


def test_regular_paid_probes_come_at_price_over_the_daily_budget_evenly() -> None:
    sent, trace = paid_probe_times(Decimal("0.02"), 12)
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(sent)]
    # $1 a day at $0.02: 50 probes, one per 1,728 s (not 1,878 s with four held back)
    assert statistics.median(gaps) == pytest.approx(1728.0, rel=0.01)
    assert max(gaps) < 1728.0 * 1.02
    assert max(trace.by_day.values()) <= Decimal(1)


def test_a_failed_paid_probe_is_confirmed_within_seconds_and_costs_nothing() -> None:
    sent, trace = paid_probe_times(Decimal("0.02"), 6, outage=(3 * HOUR, 4 * HOUR))
    failed = [t for t, outcome in sent if outcome != Outcome.OK]
    assert len(failed) >= 4
    # the outage's first four failures (down) within a minute of the first
    assert failed[3] - failed[0] < 60.0
    ok = sum(1 for _, outcome in sent if outcome == Outcome.OK)
    assert trace.spend == Decimal("0.02") * ok


def results_of(detect_p95: float, recover_p95: float, spend: float) -> dict[str, Any]:
    """A benchmark's results with the scenarios every target list needs, 8 h outages."""
    dist = {"count": 60, "missed": 0, "p50": 1.0, "p95": detect_p95, "max": detect_p95 + 100}
    row = {
        "detect_s": dist,
        "recover_s": {**dist, "p95": recover_p95},
        "false_down": 0,
        "false_alarms": 0,
        "false_alarms_per_offering_week": 0.0,
        "max_spend_in_one_utc_day_usd": spend,
    }
    results: dict[str, Any] = {
        name: {"provmon": row, "trials": 60, "offerings": 1, "outage_s": 8 * HOUR}
        for name in ("hard_outage", "flaky_week", "group_flaky_week_lying_feed")
    }
    empty = {"count": 0, "missed": 0}
    results["flaky_week"]["provmon"] = {**row, "detect_s": empty, "recover_s": empty}
    return results


def test_the_benchmark_marks_a_target_no_cadence_can_meet() -> None:
    assert detect_bound_s(0.04) == 3283.2
    assert detect_bound_s(0.02) == 1641.6
    results = results_of(3300.0, 3000.0, 0.9)
    results["latency_degradation"] = {**results["hard_outage"], "price_usd": 0.04}
    checks = {c["check"]: c for c in target_checks(results)}
    detect = checks["latency_degradation detect p95 (s)"]
    assert not detect["met"] and detect["bound_s"] == 3283.2 and "infeasible" in detect["note"]
    recover = checks["latency_degradation recover p95 (s)"]
    assert not recover["met"] and recover["needs_usd"] > 1.0 and "infeasible" in recover["note"]


def test_a_slowdowns_detect_and_recovery_together_are_priced_for_the_day() -> None:
    """At $0.02 each target alone fits in $1 a day, both together do not: the day an 8 h
    slowdown falls in needs probes every ~1,895 s outside it and every ~947 s through it."""
    assert slowdown_day_usd(0.02, 8 * HOUR) == 1.22
    assert slowdown_day_usd(0.014, 8 * HOUR) == 0.85
    results = results_of(1803.0, 1806.0, 0.98)
    for name, price in (("latency_degradation_fast", 0.02), ("latency_degradation_klein", 0.014)):
        results[name] = {**results["hard_outage"], "price_usd": price}
    checks = {c["check"]: c for c in target_checks(results)}
    fast_detect = checks["latency_degradation_fast detect p95 (s)"]
    fast_recover = checks["latency_degradation_fast recover p95 (s)"]
    assert fast_recover["needs_usd"] == 0.61 and fast_recover["needs_usd_with_detect"] == 1.22
    assert "infeasible together" in fast_recover["note"]
    assert fast_detect["needs_usd_with_recovery"] == 1.22
    assert "infeasible together" in fast_detect["note"]
    klein_recover = checks["latency_degradation_klein recover p95 (s)"]
    assert klein_recover["needs_usd_with_detect"] == 0.85 and "note" not in klein_recover


def test_todays_group_world_comes_from_the_live_catalog_and_is_caught_as_one_upstream() -> None:
    """The live catalog's gemini-image upstream, at several resellers and listed prices:
    a generation outage at all of them is seen as the upstream's, inside each budget."""
    members = live_group()
    resellers = {m.offering.split("/", 1)[0] for m in members}
    assert len(resellers) >= 3 and all(m.price > 0 for m in members)
    assert any(m.feed for m in members) and not all(m.feed for m in members)
    scenario = next(s for s in scenarios(0.1) if s.name == "group_generation_outage_live")
    result = run_scenario(scenario, seed=1)
    provmon = result["provmon"]
    assert provmon["detect_s"]["missed"] == 0 and provmon["false_down"] == 0
    assert provmon["verdicts"] == {Verdict.UPSTREAM: scenario.trials}
    assert provmon["max_spend_in_one_utc_day_usd"] <= 1.0
