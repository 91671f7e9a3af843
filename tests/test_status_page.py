"""The status page as a person sees it: rendered, then loaded in headless Chromium."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from monitor.catalogs import load_catalog
from monitor.config import Config
from monitor.interfaces import Kind, Outcome, Phase, ProbeResult
from monitor.servers import Server
from monitor.service import Service
from monitor.status import (
    WINDOWS,
    OfferingStatus,
    StatusData,
    format_ratio,
    format_seconds,
    format_usd,
    render_status,
    summarise,
)
from monitor.web import build_api
from tests.conftest import IN_CI, sample, set_behaviour

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"

#: typical generation times by model tier and provider, seconds
TIER = {"fast": 4.0, "generate": 8.0, "ultra": 14.0}
PROVIDER_FACTOR = {"vertex": 1.0, "gemini": 1.1, "fal": 1.3, "replicate": 1.6, "lumenfall": 1.2}
#: the story the sample tells: one outage, one slow provider, one retired offering
STATES = {
    "lumenfall/imagen-4.0-ultra-generate-001": ("down", "3 consecutive server_error"),
    "replicate/imagen-4.0-generate-001": ("degraded", "p95 above the latency objective"),
    "vertex/imagen-4.0-fast-generate-001": ("retired", "model_unavailable: model not found"),
}


def _tier(model: str) -> str:
    return "fast" if "fast" in model else "ultra" if "ultra" in model else "generate"


def _results(offering: str, now: dt.datetime) -> list[ProbeResult]:
    provider, _, model = offering.partition("/")
    base = TIER[_tier(model)] * PROVIDER_FACTOR[provider]
    state = STATES.get(offering, ("up", ""))[0]
    out = []
    for i in range(96):  # a probe every 15 minutes for a day, newest first
        at = now - dt.timedelta(minutes=15 * i + 1)
        outcome = Outcome.OK
        if (state == "down" and i < 8) or i % 31 == 5:
            outcome = Outcome.SERVER_ERROR
        if state == "retired" and i < 20:
            outcome = Outcome.MODEL_UNAVAILABLE
        if i % 23 == 7:
            outcome = Outcome.RATE_LIMITED  # quota: a request routed there fails too
        total = base * (1 + (i % 7) / 10) * (2.5 if state == "degraded" and i < 30 else 1)
        out.append(
            ProbeResult(
                probe_id=f"{offering}-{i}",
                offering=offering,
                provider=provider,
                model=model,
                vantage="eu-west",
                kind=Kind.GENERATE,
                outcome=outcome,
                started_at=at,
                phases={Phase.TTFB: 0.2, Phase.TOTAL: total},
            )
        )
    return out


def sample_data(now: dt.datetime) -> StatusData:
    """Every offering of the default catalog, with measurements summarised from results."""
    config = load_catalog("imagen4")
    items = []
    for key in config.enabled_offerings():
        entry = config.offerings[key]
        state, reason = STATES.get(key, ("up", "2 consecutive ok"))
        measured = summarise(_results(key, now), now=now)
        price = entry.listed_price_usd
        ok = measured["availability"]["1d"]
        effective = (
            None
            if price is None or not ok
            else (price / Decimal(str(ok))).quantize(Decimal("0.0001"))
        )
        items.append(
            OfferingStatus(
                offering=key,
                provider=config.provider_of(key),
                model=config.model_of(key),
                state=state,
                reason=reason,
                state_since=now - dt.timedelta(minutes=42),
                listed_price_usd=price,
                effective_cost_usd=effective,
                **measured,
            )
        )
    ranked = []
    for model in {i.model for i in items}:
        routable = [i for i in items if i.model == model and i.state in ("up", "degraded")]
        routable.sort(key=lambda i: (i.effective_cost_usd or 0, i.p95_seconds or 0))
        for rank, item in enumerate(routable, 1):
            weight = 0.6 if rank == 1 else 0.4 / max(1, len(routable) - 1)
            ranked.append((item.offering, rank, weight))
    by_key = {k: (r, w) for k, r, w in ranked}
    final = [
        OfferingStatus(
            **{**i.__dict__, "route_rank": by_key.get(i.offering, (None, None))[0]},
        )
        for i in items
    ]
    final = [
        OfferingStatus(**{**i.__dict__, "route_weight": by_key.get(i.offering, (None, None))[1]})
        for i in final
    ]
    return StatusData(generated_at=now, vantage="eu-west", offerings=final, refresh_seconds=30)


class _Rows(HTMLParser):
    """Collect ``tr[data-offering]`` rows: their attributes and each ``td[data-field]`` text."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, str]] = {}
        self._row: dict[str, str] | None = None
        self._field: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and a.get("data-offering"):
            self._row = {"data-state": a.get("data-state") or ""}
            self.rows[a["data-offering"] or ""] = self._row
        elif tag == "td" and self._row is not None:
            self._field = a.get("data-field")
            self._row[self._field or ""] = ""
            if a.get("data-value") is not None:
                self._row[f"{self._field}.value"] = a["data-value"] or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._field = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._row is not None and self._field:
            self._row[self._field] += data


def _chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        if IN_CI:
            pytest.fail("chromium is not installed under CI=true (.ci/run installs it)")
        pytest.skip("chromium is not installed")
    return subprocess.run(
        [
            CHROMIUM if Path(CHROMIUM).exists() else "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={tmp / 'profile'}",
            "--window-size=1400,1000",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


@pytest.fixture()
def page(tmp_path: Path) -> tuple[Path, StatusData]:
    data = sample_data(dt.datetime.now(dt.UTC))
    path = tmp_path / "status.html"
    path.write_text(render_status(data), encoding="utf-8")
    return path, data


def test_the_page_is_self_contained_and_reloads_itself(page: tuple[Path, StatusData]) -> None:
    text = page[0].read_text(encoding="utf-8")
    assert '<meta http-equiv="refresh" content="30">' in text
    for external in ("<link", "src=", "@import", "url(", "http://", "https://"):
        assert external not in text, external


def test_chromium_shows_every_offering_with_its_numbers(
    page: tuple[Path, StatusData], tmp_path: Path
) -> None:
    path, data = page
    dom = _chromium("--dump-dom", path.as_uri(), tmp=tmp_path).stdout
    parser = _Rows()
    parser.feed(dom)
    assert set(parser.rows) == {o.offering for o in data.offerings}
    assert len(parser.rows) == 15
    for item in data.offerings:
        row = parser.rows[item.offering]
        assert row["data-state"] == item.state
        assert row["state"].startswith(item.state)
        assert row["listed_price"] == f"{format_usd(item.listed_price_usd)} / image"
        assert row["effective_cost"] == format_usd(item.effective_cost_usd)
        assert row["p50"] == format_seconds(item.p50_seconds) != "—"
        assert row["p95"] == format_seconds(item.p95_seconds) != "—"
        for window in ("5m", "30m", "1d"):
            assert row[f"availability_{window}"] == format_ratio(item.availability[window])
        if item.route_rank is None:
            assert row["route"] == "—"
        else:
            assert row["route"].startswith(f"#{item.route_rank}")
    # the script ran in the browser: the header counts the page's age
    assert "s ago; reloads every 30 s" in dom


def test_a_person_reads_the_outage_and_the_prices_as_numbers(
    page: tuple[Path, StatusData], tmp_path: Path
) -> None:
    dom = _chromium("--dump-dom", page[0].as_uri(), tmp=tmp_path).stdout
    parser = _Rows()
    parser.feed(dom)
    down = parser.rows["lumenfall/imagen-4.0-ultra-generate-001"]
    assert down["state"] == "downfor 42 min"  # badge, then how long
    assert down["route"] == "—"  # a down offering is not routed
    assert down["availability_5m"] == "0.0%"
    fal = parser.rows["fal/imagen-4.0-generate-001"]
    assert fal["listed_price"] == "$0.040 / image"
    assert fal["p50"].endswith(" s")
    assert parser.rows["vertex/imagen-4.0-fast-generate-001"]["data-state"] == "retired"


def test_screenshot_of_the_status_page(page: tuple[Path, StatusData], tmp_path: Path) -> None:
    shot = tmp_path / "status.png"
    _chromium(f"--screenshot={shot}", page[0].as_uri(), tmp=tmp_path)
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 20_000  # a blank page is a few kB


def test_availability_counts_as_routing_does_and_latency_counts_generations_only() -> None:
    """One definition (``monitor.outcomes.AVAILABILITY``): generate probes only, a 429
    fails the request routed there, a content filter is left out."""
    now = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)

    def result(outcome: Outcome, kind: Kind, total: float, minutes_ago: int) -> ProbeResult:
        return ProbeResult(
            probe_id=f"{outcome}-{minutes_ago}",
            offering="fal/imagen-4.0-generate-001",
            provider="fal",
            model="imagen-4.0-generate-001",
            vantage="eu-west",
            kind=kind,
            outcome=outcome,
            started_at=now - dt.timedelta(minutes=minutes_ago),
            phases={Phase.TOTAL: total},
        )

    measured = summarise(
        [
            result(Outcome.OK, Kind.GENERATE, 6.0, 1),
            result(Outcome.OK, Kind.GENERATE, 10.0, 2),
            result(Outcome.SERVER_ERROR, Kind.GENERATE, 1.0, 3),
            result(Outcome.RATE_LIMITED, Kind.GENERATE, 0.1, 4),
            result(Outcome.CONTENT_FILTERED, Kind.GENERATE, 0.1, 6),
            result(Outcome.OK, Kind.GENERATE, 8.0, 20),
            result(Outcome.SERVER_ERROR, Kind.CONTROL, 0.05, 21),
        ],
        now=now,
    )
    assert format_ratio(measured["availability"]["5m"]) == "50.0%"
    assert format_ratio(measured["availability"]["30m"]) == "60.0%"
    assert format_seconds(measured["p50_seconds"]) == "8.0 s"
    assert format_seconds(measured["p95_seconds"]) == "10.0 s"
    # the trends count the same way, per hour: all of these fell in the last one
    assert measured["availability_trend"][-1] == pytest.approx(0.6)
    assert measured["latency_trend"][-1] == 8.0
    assert measured["availability_trend"][:-1] == [None] * 23


async def test_the_status_page_and_metrics_agree_on_success_ratio_and_effective_cost(
    sim_config: Config, sim_url: str, tmp_path: Path
) -> None:
    """Both read routing's windows: 429s count as failures for both (the page once left
    them out, so its effective cost differed from ``provmon_effective_cost_usd``)."""
    offering = "fal/imagen-4.0-generate-001"
    data = sim_config.model_dump(mode="json")
    data["offerings"] = {offering: data["offerings"][offering]}
    data["budget"] = {"daily_usd": "100", "offering_daily_usd": "100"}
    # fal's queue holds requests over the rate limit; its synchronous run answers 429
    data["providers"]["fal"]["options"]["mode"] = "sync"
    service = Service(Config.model_validate(data), f"sqlite:///{tmp_path / 'p.db'}")
    await service.start(schedule=False)
    server = Server(build_api(service), "127.0.0.1", 0)
    await server.start()
    fast = {"ttfb": {"fixed": 0.01}, "inference": {"fixed": 0.02}, "queue": {"fixed": 0.01}}
    try:
        outcomes = []
        for limited in (True,) * 4 + (False,) * 8:
            set_behaviour(sim_url, "fal:*", latency=fast, rate_limit_ratio=1.0 if limited else 0.0)
            result = await service.probe_once(offering, Kind.GENERATE)
            assert result is not None
            outcomes.append(result.outcome)
        assert outcomes.count(Outcome.RATE_LIMITED) == 4 and outcomes.count(Outcome.OK) == 8
        service.evaluate_routes()
        async with httpx.AsyncClient(base_url=server.url) as client:
            page = (await client.get("/")).text
            metrics = (await client.get("/metrics")).text
    finally:
        await service.stop()
        await server.stop()
    rows = _Rows()
    rows.feed(page)
    row = rows.rows[offering]
    cost = sample(metrics, "provmon_effective_cost_usd", offering=offering)
    price = float(service.price_of(offering) or 0)
    assert cost > price > 0
    assert float(row["effective_cost.value"]) == pytest.approx(cost)
    # every probe is within 5 minutes: each window holds them all, 8 of 12 succeeded
    for window in WINDOWS:
        assert float(row[f"availability_{window}.value"]) == pytest.approx(8 / 12)
    assert price / cost == pytest.approx(8 / 12)
