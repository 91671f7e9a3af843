"""``Metrics.render()`` (what ``/metrics`` serves) is valid text exposition with exact values.

Checked three ways: prometheus-client's own parser, ``promtool check metrics`` (missing
promtool is a skip locally, a failure under CI=true), and line for line against
``generate_latest`` of the same registry.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from decimal import Decimal

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitor.health import State
from monitor.interfaces import Gauge, Kind, Outcome, Phase, ProbeResult
from monitor.metrics import DURATION_BUCKETS, GaugeRow, Metrics, StateRow, pieces
from tests.ops_support import tool

OFFERING = "fal/imagen-4.0-generate-001"
BASE = {
    "offering": OFFERING,
    "provider": "fal",
    "model": "imagen-4.0-generate-001",
    "vantage": "eu",
    "kind": "generate",
}
#: total-phase observations: on a bound (counts in that bucket), between, beyond 300 s
TOTALS = [0.005, 0.3, 1.0, 12.0, 300.0, 301.5]
#: a label value with every character the format must escape
ODD = 'odd "quoted" \\ back\nslash'


def result(total: float, outcome: Outcome = Outcome.OK, offering: str = OFFERING) -> ProbeResult:
    return ProbeResult(
        probe_id="p",
        offering=offering,
        provider="fal",
        model="imagen-4.0-generate-001",
        vantage="eu",
        kind=Kind.GENERATE,
        outcome=outcome,
        started_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        phases={Phase.CONNECT: 0.02, Phase.TOTAL: total},
        cost_usd=Decimal("0.04"),
    )


@pytest.fixture
def metrics() -> Metrics:
    m = Metrics(CollectorRegistry(auto_describe=True))
    for i, total in enumerate(TOTALS):
        m.accept(result(total, Outcome.OK if i % 2 else Outcome.TIMEOUT))
    m.accept(result(2.0, offering=ODD))
    m.skipped.labels(OFFERING, "budget").inc()
    m.timeout.labels(OFFERING, "generate").set(120)
    m.results_dropped.inc(2)
    m.watch_states(
        lambda: [
            StateRow(
                offering=OFFERING,
                provider="fal",
                model="imagen-4.0-generate-001",
                vantage="eu",
                state=State.UP,
            )
        ]
    )
    m.add_gauges(
        lambda: [
            GaugeRow(name=Gauge.BUDGET, labels={"scope": "day"}, value=25.0),
            GaugeRow(name=Gauge.ROUTE_WEIGHT, labels={"model": "m", "offering": ODD}, value=1),
        ],
    )
    return m


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in out, f"duplicate sample {key}"
            out[key] = s.value
    return out


def test_histogram_values_are_exact(metrics: Metrics) -> None:
    text = metrics.render().decode()
    got = samples(text)
    labels = {**BASE, "phase": "total"}
    for bound in (*DURATION_BUCKETS, float("inf")):
        le = "+Inf" if bound == float("inf") else repr(float(bound))
        want = sum(1 for t in TOTALS if t <= bound)  # cumulative: every value <= le
        key = ("provmon_probe_duration_seconds_bucket", frozenset({**labels, "le": le}.items()))
        assert got[key] == want, le
    plain = frozenset(labels.items())
    assert got[("provmon_probe_duration_seconds_count", plain)] == len(TOTALS)
    assert got[("provmon_probe_duration_seconds_sum", plain)] == pytest.approx(sum(TOTALS))
    connect = frozenset({**BASE, "phase": "connect"}.items())
    assert got[("provmon_probe_duration_seconds_count", connect)] == len(TOTALS)
    assert 'le="0.01"' in text and 'le="1.0"' in text and 'le="300.0"' in text
    assert 'le="+Inf"' in text


def test_families_counters_gauges_and_escaping(metrics: Metrics) -> None:
    text = metrics.render().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["provmon_probe_duration_seconds"].type == "histogram"
    assert families["provmon_probes"].type == "counter"
    assert families["provmon_offering_state"].type == "gauge"
    for name in ("provmon_probe_duration_seconds", "provmon_probes_total"):
        assert text.count(f"# HELP {name} ") == 1
        assert text.count(f"# TYPE {name} ") == 1
    assert "_created" not in text
    got = samples(text)
    probes = {**BASE, "outcome": "ok"}
    assert got[("provmon_probes_total", frozenset(probes.items()))] == 3
    assert got[("provmon_probes_total", frozenset({**probes, "outcome": "timeout"}.items()))] == 3
    spend = frozenset({"offering": OFFERING, "provider": "fal"}.items())
    assert got[("provmon_probe_spend_usd_total", spend)] == pytest.approx(0.24)
    assert got[("provmon_results_dropped_total", frozenset())] == 2
    timeout = frozenset({"offering": OFFERING, "kind": "generate"}.items())
    assert got[("provmon_probe_timeout_seconds", timeout)] == 120
    up = {"offering": OFFERING, "provider": "fal", "model": "imagen-4.0-generate-001"}
    up |= {"vantage": "eu", "state": "up"}
    assert got[("provmon_offering_state", frozenset(up.items()))] == 1
    assert got[("provmon_offering_state", frozenset({**up, "state": "down"}.items()))] == 0
    assert got[("provmon_probe_budget_usd", frozenset({"scope": "day"}.items()))] == 25
    odd = frozenset({**BASE, "offering": ODD, "phase": "total"}.items())
    assert got[("provmon_probe_duration_seconds_count", odd)] == 1
    route = frozenset({"model": "m", "offering": ODD}.items())
    assert got[("provmon_route_weight", route)] == 1


def test_render_matches_generate_latest_line_for_line(metrics: Metrics) -> None:
    rendered = metrics.render().decode().splitlines()
    reference = generate_latest(metrics.registry).decode().splitlines()
    assert sorted(rendered) == sorted(reference)


def test_a_series_is_rendered_again_after_it_changes(metrics: Metrics) -> None:
    before = samples(metrics.render().decode())
    metrics.accept(result(0.001))
    after = samples(metrics.render().decode())
    labels = {**BASE, "phase": "total"}
    key = ("provmon_probe_duration_seconds_bucket", frozenset({**labels, "le": "0.01"}.items()))
    assert after[key] == before[key] + 1
    count = ("provmon_probe_duration_seconds_count", frozenset(labels.items()))
    assert after[count] == before[count] + 1


def test_promtool_accepts_the_exposition(metrics: Metrics) -> None:
    promtool = tool("promtool")
    checked = subprocess.run(
        [promtool, "check", "metrics"],
        input=metrics.render(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, (checked.stdout + checked.stderr).decode()


def test_a_versioned_gauge_source_is_read_again_only_when_its_version_moves() -> None:
    m = Metrics(CollectorRegistry(auto_describe=True))
    weight = {"value": 0.5, "version": 1, "reads": 0}

    def routes() -> list[GaugeRow]:
        weight["reads"] += 1
        labels = {"model": "m", "offering": OFFERING, "policy": "cost"}
        return [GaugeRow(name=Gauge.ROUTE_WEIGHT, labels=labels, value=weight["value"])]

    m.add_gauges(routes, version=lambda: weight["version"])
    key = (
        "provmon_route_weight",
        frozenset({"model": "m", "offering": OFFERING, "policy": "cost"}.items()),
    )
    assert samples(m.render().decode())[key] == 0.5
    weight["value"] = 0.25  # the engine's rows changed without a new evaluation: not yet
    assert samples(m.render().decode())[key] == 0.5
    assert weight["reads"] == 1
    weight["version"] = 2  # a new evaluation: read again, and the new value shows
    assert samples(m.render().decode())[key] == 0.25
    assert weight["reads"] == 2
    # /metrics sends the same text in pieces
    assert b"".join(pieces(m.render_chunks())) == m.render()


def test_offering_states_are_read_again_when_the_health_book_changes() -> None:
    from monitor.health import HealthBook, Sample

    book = HealthBook()
    m = Metrics(CollectorRegistry(auto_describe=True))
    reads = {"n": 0}

    def rows() -> list[StateRow]:
        reads["n"] += 1
        return [
            StateRow(
                offering=OFFERING,
                provider="fal",
                model="imagen-4.0-generate-001",
                vantage="eu",
                state=book.get(OFFERING, "eu").state,
            )
        ]

    m.watch_states(rows, version=lambda: book.changes)

    def shown() -> str:
        got = samples(m.render().decode())
        [state] = [
            dict(labels)["state"]
            for (name, labels), value in got.items()
            if name == "provmon_offering_state" and value == 1.0
        ]
        return state

    assert shown() == "unknown"
    assert shown() == "unknown" and reads["n"] == 1  # nothing changed: not read again
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    while book.get(OFFERING, "eu").state != State.UP:
        book.observe(OFFERING, "eu", Sample(outcome=Outcome.OK, at=at, latency_s=1.0))
    assert shown() == "up"
    assert sorted(m.render().decode().splitlines()) == sorted(
        generate_latest(m.registry).decode().splitlines()
    )


def _route_weight(m: Metrics, chunks: list[bytes] | None = None) -> float:
    text = b"".join(chunks if chunks is not None else m.render_chunks()).decode()
    key = (
        "provmon_route_weight",
        frozenset({"model": "m", "offering": OFFERING, "policy": "cost"}.items()),
    )
    return samples(text)[key]


def test_gauges_that_are_slow_to_read_are_read_behind_the_scrape() -> None:
    """Above ``gauges_inline_ms`` a scrape sends the last read's gauges and a worker reads
    them again: the next scrape shows the change; ``render()`` always reads them now."""
    from monitor.config_sections import MetricsConfig
    from tests.conftest import wait_for

    m = Metrics(CollectorRegistry(auto_describe=True), MetricsConfig(gauges_inline_ms=0))
    weight = {"value": 0.5}

    def routes() -> list[GaugeRow]:
        labels = {"model": "m", "offering": OFFERING, "policy": "cost"}
        return [GaugeRow(name=Gauge.ROUTE_WEIGHT, labels=labels, value=weight["value"])]

    m.add_gauges(routes)
    assert _route_weight(m) == 0.5  # nothing read yet: read at the scrape
    weight["value"] = 0.25
    assert _route_weight(m) == 0.5  # the last read's, and a read asked of the worker
    wait_for(lambda: m._gauges.behind_reads >= 1, 10, 0.01)
    assert _route_weight(m) == 0.25  # read behind the scrape before, shown now
    weight["value"] = 0.125
    assert _route_weight(m, m.render_chunks(current=True)) == 0.125
    assert b"weight" in m.render() and _route_weight(m) == 0.125


def test_gauges_primed_at_start_spare_the_first_scrape_a_read_of_its_own() -> None:
    """The service reads the gauges once before it schedules probes (``prime``): the
    first scrape sends that read, however slow reading is (issue 18)."""
    from monitor.config_sections import MetricsConfig

    m = Metrics(CollectorRegistry(auto_describe=True), MetricsConfig(gauges_inline_ms=0))
    weight = {"value": 0.5}
    labels = {"model": "m", "offering": OFFERING, "policy": "cost"}
    m.add_gauges(lambda: [GaugeRow(name=Gauge.ROUTE_WEIGHT, labels=labels, value=weight["value"])])
    m.prime()
    weight["value"] = 0.25
    assert _route_weight(m) == 0.5  # the primed read: the scrape did not read itself


def test_gauges_older_than_their_max_age_are_read_at_the_scrape() -> None:
    from monitor.config_sections import MetricsConfig

    config = MetricsConfig(gauges_inline_ms=0, gauges_max_age_seconds=1e-6)
    m = Metrics(CollectorRegistry(auto_describe=True), config)
    weight = {"value": 0.5}
    labels = {"model": "m", "offering": OFFERING, "policy": "cost"}
    m.add_gauges(lambda: [GaugeRow(name=Gauge.ROUTE_WEIGHT, labels=labels, value=weight["value"])])
    assert _route_weight(m) == 0.5
    weight["value"] = 0.75
    assert _route_weight(m) == 0.75


def test_blocks_of_series_stay_right_as_series_change_come_and_go(metrics: Metrics) -> None:
    """A family's text is kept in blocks of series, each joined again when one of its
    series changes: after changes, additions and removals it is still every series."""
    for i in range(40):
        metrics.accept(result(float(i), offering=f"fal/m{i}"))
    metrics.render()
    for i in range(0, 40, 3):
        metrics.probes.remove(f"fal/m{i}", "fal", "imagen-4.0-generate-001", "eu", "generate", "ok")
        metrics.accept(result(1.5, offering=f"fal/m{i + 1}"))
    rendered = sorted(metrics.render().decode().splitlines())
    assert rendered == sorted(generate_latest(metrics.registry).decode().splitlines())
    assert 'offering="fal/m3",outcome="ok"' not in metrics.render().decode()
