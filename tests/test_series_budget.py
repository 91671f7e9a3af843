"""Issue 18's series budget: what one offering costs a Prometheus user, per detail level.

The service runs the demo's catalog (today's models and Imagen 4: 42 offerings at 13
providers) against the simulator: prices read from the simulated pages, routes
evaluated, and then the worst an offering's series can get: a result of every outcome
for both kinds, with every phase, and a skip of every reason. What ``/metrics`` serves
then is counted with :func:`monitor.metrics.series_per_offering`.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from monitor.catalogs import demo_catalog
from monitor.config import (
    Config,
    ConfigError,
    parse_config,
    point_at_simulator,
    simulator_credentials,
)
from monitor.interfaces import Kind, Outcome, Phase, ProbeResult
from monitor.metrics import Metrics, series_per_offering
from monitor.metrics._detail import ERRORS, FOLDED_ERROR, series_counts
from monitor.servers import Server
from monitor.service import Service
from monitor.web import build_api
from tests.ops_support import (
    ALERTS,
    alert_rules,
    board,
    board_queries,
    expand,
    metric_names,
    recording_rules,
)

BUDGET = 60
REASONS = ("missed", "overlap", "budget", "no_price")
#: every phase a probe can time, as a queue-based provider's generation has them
PHASES = {
    Phase.CONNECT: 0.03,
    Phase.TTFB: 0.2,
    Phase.QUEUE: 3.0,
    Phase.INFERENCE: 9.0,
    Phase.DOWNLOAD: 0.4,
    Phase.TOTAL: 12.7,
}


def _config(sim_url: str, monkeypatch: pytest.MonkeyPatch, detail: str) -> Config:
    base = demo_catalog()
    for name, value in simulator_credentials(base).items():
        monkeypatch.setenv(name, value)
    return point_at_simulator(base, sim_url, metrics={"detail": detail})


async def _worst_exposition(config: Config, tmp_path: Path) -> bytes:
    """``/metrics`` over HTTP after the worst an offering's series can get."""
    service = Service(config, f"sqlite:///{tmp_path / 'provmon.db'}")
    await service.start(schedule=False)
    server = Server(build_api(service), "127.0.0.1", 0)
    await server.start()
    try:
        for source in config.pricing_sources:
            await service.refresh_prices(source)
        for name in config.lifecycle_sources:
            await service.lifecycle.read_source(name)
        await service.lifecycle.discover(service.runner)
        for offering in config.enabled_offerings():
            for kind in Kind:
                for outcome in Outcome:
                    service.pipeline.accept(_result(config, offering, kind, outcome))
            for reason in REASONS:
                service.metrics.skipped.labels(offering, reason).inc()
        service.evaluate_routes()
        async with httpx.AsyncClient(base_url=server.url) as client:
            return (await client.get("/metrics")).content
    finally:
        await service.stop()
        await server.stop()


def _result(config: Config, offering: str, kind: Kind, outcome: Outcome) -> ProbeResult:
    return ProbeResult(
        probe_id=f"{offering}-{kind}-{outcome}",
        offering=offering,
        provider=config.provider_of(offering),
        model=config.model_of(offering),
        vantage=config.vantage,
        kind=kind,
        outcome=outcome,
        started_at=dt.datetime.now(dt.UTC),
        phases=PHASES,
        cost_usd=Decimal("0.04") if kind is Kind.GENERATE else Decimal(0),
    )


@pytest.fixture(scope="module")
def counted() -> dict[str, float]:
    return {}


@pytest.mark.parametrize("detail", ["full", "default", "minimal"])
async def test_series_per_offering_by_detail_level(
    detail: str,
    sim_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    counted: dict[str, float],
) -> None:
    config = _config(sim_url, monkeypatch, detail)
    text = await _worst_exposition(config, tmp_path)
    offerings = len(config.enabled_offerings())
    per_offering = series_per_offering(text, offerings)
    counted[detail] = per_offering
    print(f"{detail}: {per_offering} series per offering ({offerings} offerings)")
    print(sorted(series_counts(text).items(), key=lambda kv: -kv[1]))
    if detail == "default":
        assert per_offering <= BUDGET
        # what the board and the rules read is all there
        exported = set(series_counts(text))
        read = [expand(expr) for _, expr in board_queries(board())]
        read += [rule["expr"] for rule in alert_rules()]
        read += [rule["expr"] for rule in recording_rules()]
        wanted = {re.sub(r"_(bucket|count|sum)$", "", n) for e in read for n in metric_names(e)}
        recorded = {rule["record"] for rule in recording_rules()}
        assert wanted - exported - recorded - {"up"} == set()
    if detail == "full":
        assert per_offering > 150  # everything, as before issue 18
    if detail == "minimal":
        assert counted.get("default", BUDGET) > per_offering


def test_the_folded_outcomes_are_the_error_rules_errors() -> None:
    """The control probes' ``error`` value stands for exactly the outcomes the error-ratio
    rule counts, and the rule counts it."""
    text = ALERTS.read_text(encoding="utf-8")
    [errors] = re.findall(r'outcome=~"(timeout\|[^"]+)"', text)
    assert set(errors.split("|")) == {o.value for o in ERRORS} | {FOLDED_ERROR}


def test_metrics_counts_a_control_failure_as_error_and_a_generation_failure_as_itself() -> None:
    config = point_at_simulator(demo_catalog(), "http://127.0.0.1:9")
    metrics = Metrics()
    metrics.init_offerings(config, lambda _o, _k: 30.0)
    offering = next(iter(config.enabled_offerings()))
    for kind in Kind:
        metrics.accept(_result(config, offering, kind, Outcome.SERVER_ERROR))
    text = metrics.render().decode()
    assert re.search(rf'kind="control",model="[^"]+",offering="{offering}",outcome="error"', text)
    assert f'offering="{offering}",outcome="server_error"' in text
    got = {
        (m.group(1), m.group(2))
        for m in re.finditer(r'provmon_probes_total\{kind="(\w+)".*outcome="(\w+)".*\} 1\.0', text)
    }
    assert got == {("control", "error"), ("generate", "server_error")}


def test_a_bad_metrics_key_is_an_error_naming_it() -> None:
    data = demo_catalog().model_dump(mode="json")
    for bad, where in (
        ({"detial": "full"}, "metrics.detial"),
        ({"detail": "most"}, "metrics.detail"),
        ({"generate_buckets": [5, 1]}, "metrics.generate_buckets"),
    ):
        with pytest.raises(ConfigError) as caught:
            parse_config({**data, "metrics": bad}, origin="test")
        message = str(caught.value)
        assert where in message, message
