"""Hourly rollups, pure: a tally merges by addition and its quantile stays within the bound
of the exact nearest-rank quantile of the same results."""

from __future__ import annotations

import random

import pytest

from monitor.history import (
    HIGH,
    LOW,
    QUANTILE_ERROR,
    Tally,
    bucket_of,
    counts,
    pack,
    unpack,
)
from monitor.interfaces import Outcome
from monitor.outcomes import quantile


def _tally(latencies: list[float]) -> Tally:
    t = Tally()
    for v in latencies:
        t.add(Outcome.OK, v, 0, False)
    return t


@pytest.mark.parametrize("seed", range(6))
def test_a_quantile_from_the_histogram_is_within_its_bound_of_the_exact_one(seed: int) -> None:
    rng = random.Random(seed)
    latencies = [rng.lognormvariate(rng.uniform(0, 3), rng.uniform(0.1, 1.5)) for _ in range(997)]
    latencies = [min(max(v, LOW), HIGH) for v in latencies]
    t = _tally(latencies)
    for q in (0.5, 0.9, 0.95, 0.99):
        exact = quantile(latencies, q)
        approx = t.quantile(q)
        assert exact is not None and approx is not None
        assert abs(approx - exact) <= QUANTILE_ERROR * exact * 1.0001, (q, exact, approx)
    assert QUANTILE_ERROR < 0.025


def test_tallies_merge_by_addition_and_survive_packing() -> None:
    rng = random.Random(1)
    parts = [[rng.uniform(0.5, 90) for _ in range(rng.randint(0, 40))] for _ in range(30)]
    whole = _tally([v for part in parts for v in part])
    summed = Tally()
    for part in parts:
        summed.merge(Tally(histogram=unpack(pack(_tally(part).histogram)), ok=len(part)))
    assert summed.histogram == whole.histogram
    assert summed.ok == whole.ok
    assert sum(counts(summed.histogram)) == whole.ok
    assert pack(0) == b"" and unpack(b"") == unpack(None) == 0


def test_the_counts_follow_routings_table() -> None:
    t = Tally()
    for outcome in (Outcome.OK, Outcome.OK, Outcome.RATE_LIMITED, Outcome.CONTENT_FILTERED):
        t.add(outcome, 2.0, 40_000, False)
    t.add(Outcome.SERVER_ERROR, None, 0, False)
    t.add(Outcome.OK, 1.0, 0, True)  # cancelled: no verdict
    assert (t.ok, t.rate_limited, t.content_filtered, t.errors, t.cancelled) == (2, 1, 1, 1, 1)
    assert t.success_ratio == 0.5  # 2 ÷ (2 + 429 + 5xx); the filter is neither
    assert t.results == 6
    assert t.cost_micro_usd == 160_000
    assert str(t.effective_cost(__import__("decimal").Decimal("0.04"))) == "0.080000"
    assert Tally().quantile(0.5) is None and Tally().success_ratio is None


def test_latencies_outside_the_range_land_in_the_edge_buckets() -> None:
    assert bucket_of(0.0) == 0
    assert bucket_of(HIGH * 10) == bucket_of(HIGH * 100)


def test_the_rollup_arithmetic_loads_no_database_metrics_or_http_library() -> None:
    import json
    import subprocess
    import sys

    code = "import sys, json, monitor.history; print(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(proc.stdout))
    assert not loaded & {"sqlalchemy", "prometheus_client", "httpx"}
