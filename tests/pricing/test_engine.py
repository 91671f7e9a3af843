"""The pricing engine against the simulator's pricing pages on a real loopback socket, with
the store on SQLite and on PostgreSQL: what is stored, what the gauges say, what is refused."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from monitor.catalogs import load_catalog
from monitor.config import Config, parse_config
from monitor.interfaces import Gauge, PriceParseError
from monitor.metrics import GAUGES
from monitor.pricing.engine import PricingEngine, parse_saved
from monitor.pricing.judge import Verdict
from monitor.servers import ThreadedServer
from monitor.sim.app import build_app
from monitor.store import Store

T0 = dt.datetime(2026, 2, 1, 12, 0, tzinfo=dt.UTC)
GEMINI = ("gemini_page", "/pages/gemini/pricing", ("gemini",))
STANDARD = "gemini/imagen-4.0-generate-001"


class ETags:
    """Gives ``/pages/`` answers an ETag and answers a matching If-None-Match with 304, as the
    real pages' CDNs do (the simulated pages send no validators of their own)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.not_modified = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/pages/"):
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            else:
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(chunks)
        headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
        if start["status"] == 200:
            tag = f'"{hashlib.sha256(body).hexdigest()[:20]}"'.encode()
            headers.append((b"etag", tag))
            if dict(scope["headers"]).get(b"if-none-match") == tag:
                self.not_modified += 1
                start, body, headers = {**start, "status": 304}, b"", [(b"etag", tag)]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class Pages:
    def __init__(self) -> None:
        app = build_app(control_enabled=True)

        async def offsite(request: Request) -> Response:
            return RedirectResponse(f"http://localhost:{request.url.port}/pages/gemini/pricing")

        async def onsite(request: Request) -> Response:
            return RedirectResponse("/pages/gemini/pricing", status_code=301)

        app.router.routes += [Route("/moved/offsite", offsite), Route("/moved/onsite", onsite)]
        self.etags = ETags(app)
        self.server = ThreadedServer(self.etags)

    @property
    def url(self) -> str:
        return self.server.url

    def control(self, route: str, **body: str) -> None:
        httpx.post(f"{self.url}/_sim/{route}", json=body).raise_for_status()


@pytest.fixture()
def site() -> Iterator[Pages]:
    pages_server = Pages()
    pages_server.server.start()
    yield pages_server
    pages_server.server.stop()


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


def config_for(base: str, **sources: tuple[str, str, tuple[str, ...]]) -> Config:
    """The default catalog with only ``sources`` (name: kind, path, providers priced)."""
    data = load_catalog("imagen4").model_dump(mode="json")
    data["pricing_sources"] = {
        name: {"kind": kind, "url": base + path, "interval_seconds": 3600}
        for name, (kind, path, _) in sources.items()
    }
    for key, offering in data["offerings"].items():
        provider = key.partition("/")[0]
        offering["pricing_sources"] = [n for n, s in sources.items() if provider in s[2]]
    return parse_config(data)


def gauges(engine: PricingEngine, name: str) -> dict[tuple[str, ...], float]:
    # the engine gives a Gauge; monitor.metrics gives it its provmon_* name
    return {tuple(g.labels.values()): g.value for g in engine.gauges() if GAUGES[g.name][0] == name}


def price(engine: PricingEngine, offering: str, source: str = "gemini") -> float | None:
    for g in engine.gauges():
        if g.name == Gauge.PRICE and (g.labels["offering"], g.labels["source"]) == (
            offering,
            source,
        ):
            return g.value
    return None


def engine_for(config: Config, store: Store, clock: Clock, **kw: Any) -> PricingEngine:
    return PricingEngine(config, store, now=clock, **kw)


async def test_a_refresh_stores_every_quote_with_evidence_source_url_and_hash(
    site: Pages, store: Store
) -> None:
    engine = engine_for(config_for(site.url, gemini=GEMINI), store, Clock())
    report = await engine.refresh("gemini")
    assert report.ok and [p.status for p in report.pages] == ["ok"]
    rows = {r.offering: r for r in store.price_history()}
    assert {o: r.amount for o, r in rows.items()} == {
        "gemini/imagen-4.0-fast-generate-001": "0.02",
        STANDARD: "0.04",
        "gemini/imagen-4.0-ultra-generate-001": "0.06",
    }
    standard = rows[STANDARD]
    assert "Imagen 4 Standard image price" in standard.evidence
    assert standard.source_url == f"{site.url}/pages/gemini/pricing"
    assert len(standard.content_hash) == 64 and standard.status == "accepted"
    assert standard.observed_at == T0 and standard.source == "gemini"
    assert price(engine, STANDARD) == 0.04
    assert gauges(engine, "provmon_price_fetch_success") == {("gemini",): 1.0}
    assert gauges(engine, "provmon_price_fetch_last_success_timestamp_seconds") == {
        ("gemini",): T0.timestamp()
    }
    assert engine.current_price(STANDARD) == Decimal("0.04")


async def test_an_unchanged_page_answered_304_stores_nothing_new(site: Pages, store: Store) -> None:
    clock = Clock()
    engine = engine_for(config_for(site.url, gemini=GEMINI), store, clock)
    await engine.refresh("gemini")
    before = len(store.price_history())
    clock.now += dt.timedelta(hours=1)
    report = await engine.refresh("gemini")
    assert report.ok and [p.status for p in report.pages] == ["not_modified"]
    assert site.etags.not_modified == 1
    assert len(store.price_history()) == before
    assert price(engine, STANDARD) == 0.04
    # the source confirmed its prices: their age restarts
    assert gauges(engine, "provmon_price_fetch_last_success_timestamp_seconds") == {
        ("gemini",): clock.now.timestamp()
    }


async def test_a_price_changed_through_the_simulator_shows_after_the_next_refresh(
    site: Pages, store: Store
) -> None:
    changes: list[tuple[str, str]] = []
    config = config_for(site.url, gemini=GEMINI)
    engine = engine_for(config, store, Clock(), on_change=lambda o, s: changes.append((o, s)))
    await engine.refresh("gemini")
    site.control("price", source="gemini_page", offering=STANDARD, amount="0.045")
    report = await engine.refresh("gemini")
    assert report.offerings(Verdict.CHANGED) == [STANDARD]
    assert price(engine, STANDARD) == 0.045
    assert changes == [(STANDARD, "gemini")]
    assert store.price_history(offering=STANDARD)[0].amount == "0.045"


async def test_a_jump_beyond_the_ratio_is_held_until_it_is_read_twice(
    site: Pages, store: Store
) -> None:
    engine = engine_for(config_for(site.url, gemini=GEMINI), store, Clock())
    await engine.refresh("gemini")
    site.control("price", source="gemini_page", offering=STANDARD, amount="0.40")
    first = await engine.refresh("gemini")
    assert first.offerings(Verdict.HELD) == [STANDARD]
    assert price(engine, STANDARD) == 0.04
    assert [r.status for r in store.price_history(offering=STANDARD)] == ["held", "accepted"]
    assert {r.status for r in engine.rows_for_show() if r.offering == STANDARD} == {"held"}
    # a held page is read again in full (no If-None-Match), so the second reading is real
    second = await engine.refresh("gemini")
    assert site.etags.not_modified == 0
    assert second.offerings(Verdict.CHANGED) == [STANDARD]
    assert price(engine, STANDARD) == 0.40


async def test_a_broken_layout_fails_the_refresh_and_keeps_the_last_good_price(
    site: Pages, store: Store
) -> None:
    clock = Clock()
    engine = engine_for(config_for(site.url, gemini=GEMINI), store, clock)
    await engine.refresh("gemini")
    stored = len(store.price_history())
    site.control("page", source="gemini_page", mode="restructured")
    clock.now += dt.timedelta(hours=1)
    report = await engine.refresh("gemini")
    assert not report.ok and report.pages[0].status == "parse_failed"
    assert "gemini_page" in (report.pages[0].error or "")
    assert gauges(engine, "provmon_price_fetch_success") == {("gemini",): 0.0}
    assert gauges(engine, "provmon_price_fetch_last_success_timestamp_seconds") == {
        ("gemini",): T0.timestamp()
    }
    assert price(engine, STANDARD) == 0.04
    assert len(store.price_history()) == stored
    (state,) = store.fetch_states(source="gemini")
    assert state.consecutive_failures == 1 and "parse_failed" in (state.last_error or "")
    # the broken page's validators were not kept: back to the last good page, it is a 304
    site.control("page", source="gemini_page", mode="normal")
    assert (await engine.refresh("gemini")).pages[0].status == "not_modified"
    assert gauges(engine, "provmon_price_fetch_success") == {("gemini",): 1.0}


async def test_a_removed_row_is_reported_as_removed_not_as_a_broken_parser(
    site: Pages, store: Store
) -> None:
    changes: list[tuple[str, str]] = []
    config = config_for(site.url, gemini=GEMINI)
    engine = engine_for(config, store, Clock(), on_change=lambda o, s: changes.append((o, s)))
    await engine.refresh("gemini")
    site.control("page", source="gemini_page", mode="remove_row", offering=STANDARD)
    report = await engine.refresh("gemini")
    # another row moves, so the page is read again: still removed, not recorded twice
    fast = "gemini/imagen-4.0-fast-generate-001"
    site.control("price", source="gemini_page", offering=fast, amount="0.021")
    again = await engine.refresh("gemini")
    assert report.ok and report.offerings(Verdict.REMOVED) == [STANDARD]
    assert again.ok and again.offerings(Verdict.REMOVED) == [STANDARD]
    assert gauges(engine, "provmon_price_fetch_success") == {("gemini",): 1.0}
    assert price(engine, STANDARD) is None
    assert [r.status for r in store.price_history(offering=STANDARD)] == ["removed", "accepted"]
    assert changes == [(STANDARD, "gemini"), (fast, "gemini")]  # removed once, not twice
    assert {r.status for r in engine.rows_for_show() if r.offering == STANDARD} == {"removed"}
    # what a paid probe costs falls back to the catalog's listed price
    assert engine.current_price(STANDARD) == Decimal("0.04")


async def test_a_redirect_to_another_host_is_refused(site: Pages, store: Store) -> None:
    config = config_for(
        site.url,
        gemini=("gemini_page", "/moved/offsite", ("gemini",)),
        same=("gemini_page", "/moved/onsite", ("gemini",)),
    )
    engine = engine_for(config, store, Clock())
    refused, followed = await engine.refresh("gemini"), await engine.refresh("same")
    assert not refused.ok and refused.pages[0].status == "fetch_failed"
    assert "foreign host http://localhost" in (refused.pages[0].error or "")
    assert followed.ok and price(engine, STANDARD, "same") == 0.04
    assert price(engine, STANDARD, "gemini") is None


async def test_an_oversized_page_is_refused(site: Pages, store: Store) -> None:
    engine = engine_for(config_for(site.url, gemini=GEMINI), store, Clock(), max_bytes=500)
    report = await engine.refresh("gemini")
    assert not report.ok and "exceeds the 500" in (report.pages[0].error or "")
    assert store.price_history() == []


async def test_only_one_of_two_engines_sharing_a_database_fetches(
    site: Pages, db_url: str, store: Store
) -> None:
    config, clock = config_for(site.url, gemini=GEMINI), Clock()
    other_store = Store(db_url)
    try:
        first = engine_for(config, store, clock, holder="agent-a")
        second = engine_for(config, other_store, clock, holder="agent-b")
        assert (await first.refresh("gemini")).ok
        skipped = await second.refresh("gemini")
        assert skipped.skipped and "lease" in skipped.skipped and skipped.pages == []
        assert first.leader and not second.leader
        # the reader shows what the fetcher stored
        assert price(second, STANDARD) == 0.04
        assert gauges(second, "provmon_price_fetch_success") == {("gemini",): 1.0}
        # the fetcher goes quiet past its lease: the other agent takes over
        clock.now += first.lease_ttl + dt.timedelta(seconds=1)
        assert (await second.refresh("gemini")).ok and second.leader
        assert (await first.refresh("gemini")).skipped
        # by hand, for a diagnosis, an agent may read a source without the lease
        assert (await first.refresh("gemini", force=True)).ok and not first.leader
    finally:
        other_store.dispose()


async def test_a_price_turns_stale_after_the_max_age(site: Pages, store: Store) -> None:
    clock = Clock()
    engine = engine_for(config_for(site.url, gemini=GEMINI), store, clock)
    stale = gauges(engine, "provmon_price_stale")
    assert stale[(STANDARD, "gemini")] == 1.0  # never read
    await engine.refresh("gemini")
    site.control("page", source="gemini_page", mode="js_only")
    max_age = engine.sources["gemini"].max_age
    assert max_age == dt.timedelta(hours=6)  # 3 hourly intervals, raised to the 6 h floor
    clock.now = T0 + max_age
    await engine.refresh("gemini")
    assert gauges(engine, "provmon_price_stale")[(STANDARD, "gemini")] == 0.0
    clock.now = T0 + max_age + dt.timedelta(seconds=1)
    assert gauges(engine, "provmon_price_stale")[(STANDARD, "gemini")] == 1.0
    assert price(engine, STANDARD) == 0.04  # stale, still the last good price
    row = next(r for r in engine.rows_for_show() if r.offering == STANDARD)
    assert row.stale and row.age_seconds == max_age.total_seconds() + 1


async def test_a_restarted_engine_starts_from_the_stored_prices(site: Pages, store: Store) -> None:
    config, clock = config_for(site.url, gemini=GEMINI), Clock()
    engine = engine_for(config, store, clock, holder="agent-a")
    await engine.refresh("gemini")
    site.control("page", source="gemini_page", mode="remove_row", offering=STANDARD)
    site.control("price", source="gemini_page", offering=STANDARD, amount="0.40")
    site.control(
        "price", source="gemini_page", offering="gemini/imagen-4.0-fast-generate-001", amount="0.90"
    )
    await engine.refresh("gemini")
    restarted = engine_for(config, store, clock, holder="agent-a")
    await restarted.load()
    assert gauges(restarted, "provmon_price_usd") == gauges(engine, "provmon_price_usd")
    assert restarted.rows_for_show() == engine.rows_for_show()
    assert gauges(restarted, "provmon_price_fetch_success") == {("gemini",): 1.0}


async def test_a_source_needing_a_missing_credential_is_skipped_not_failed(
    site: Pages, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAL_KEY", raising=False)
    fal = ("fal_pricing_api", "/pages/fal/v1/models/pricing", ("fal",))
    engine = engine_for(config_for(site.url, fal=fal), store, Clock())
    report = await engine.refresh("fal")
    assert report.skipped and "FAL_KEY" in report.skipped and not report.failures
    assert gauges(engine, "provmon_price_fetch_success") == {}
    assert gauges(engine, "provmon_price_stale") == {}
    monkeypatch.setenv("FAL_KEY", "sim-fal-key")
    assert (await engine.refresh("fal")).ok
    assert price(engine, "fal/imagen-4.0-generate-001", "fal") == 0.04


#: fal's own pricing API (the primary source of fal's offerings) and LiteLLM's price file
#: (a cross-check that says 0.0398 for fal's Imagen 4)
FAL_AND_LITELLM: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "fal": ("fal_pricing_api", "/pages/fal/v1/models/pricing", ("fal",)),
    "litellm": (
        "litellm_json",
        "/pages/litellm/model_prices_and_context_window.json",
        ("fal", "gemini", "vertex"),
    ),
}


async def test_sources_that_disagree_about_an_offering_are_flagged(
    site: Pages, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAL_KEY", "sim-fal-key")
    config = config_for(
        site.url,
        **FAL_AND_LITELLM,
        replicate=("replicate_page", "/pages/replicate/{provider_model}", ("replicate",)),
    )
    engine = engine_for(config, store, Clock())
    reports = await engine.refresh_all()
    assert all(r.ok for r in reports), [r.failures for r in reports]
    assert len(engine.sources["replicate"].plan) == 3  # one page per model
    flags = gauges(engine, "provmon_price_disagreement")
    # LiteLLM's 0.0398 against fal's 0.04 is rounding noise, not a disagreement
    assert flags[("fal/imagen-4.0-generate-001",)] == 0.0
    site.control(
        "price", source="litellm_json", offering="fal/imagen-4.0-generate-001", amount="0.05"
    )
    await engine.refresh("litellm")
    flags = gauges(engine, "provmon_price_disagreement")
    assert flags[("fal/imagen-4.0-generate-001",)] == 1.0
    assert sum(flags.values()) == 1.0
    # the primary (first listed) source prices the probe
    assert engine.current_price("fal/imagen-4.0-generate-001") == Decimal("0.04")
    assert engine.price_of("fal/imagen-4.0-generate-001") == Decimal("0.04")  # CostLookup
    history = engine.history("fal/imagen-4.0-generate-001")
    assert [h["amount"] for h in history if h["source"] == "litellm"] == ["0.05", "0.0398"]


FIXTURES = Path(__file__).parents[1] / "fixtures" / "pricing"


def test_a_saved_google_page_parses_to_the_three_imagen_4_prices() -> None:
    config = config_for("http://pages.invalid", gemini=GEMINI)
    text = (FIXTURES / "gemini_page" / "normal.html").read_text(encoding="utf-8")
    for source in ("gemini", "gemini_page"):  # a configured name or a kind
        result = parse_saved(config, source, text)
        assert {q.offering: q.amount for q in result.quotes} == {
            "gemini/imagen-4.0-fast-generate-001": Decimal("0.02"),
            STANDARD: Decimal("0.04"),
            "gemini/imagen-4.0-ultra-generate-001": Decimal("0.06"),
        }


def test_a_saved_page_of_an_unconfigured_kind_is_read_per_catalog_model() -> None:
    config = config_for("http://pages.invalid")
    text = (FIXTURES / "gemini_page" / "normal.html").read_text(encoding="utf-8")
    result = parse_saved(config, "gemini_page", text)
    assert [(q.offering, q.amount) for q in result.quotes] == [
        ("imagen-4.0-fast-generate-001", Decimal("0.02")),
        ("imagen-4.0-generate-001", Decimal("0.04")),
        ("imagen-4.0-ultra-generate-001", Decimal("0.06")),
    ]


def test_parsing_a_saved_page_with_an_unknown_source_names_the_known_ones() -> None:
    config = config_for("http://pages.invalid", gemini=GEMINI)
    with pytest.raises(KeyError, match="gemini_markdown"):
        parse_saved(config, "nope", "")
    with pytest.raises(PriceParseError):
        parse_saved(config, "gemini", (FIXTURES / "gemini_page" / "js_only.html").read_text())


async def test_the_gauges_reach_a_prometheus_registry(site: Pages, store: Store) -> None:
    from prometheus_client import CollectorRegistry

    from monitor.metrics import Metrics

    engine = engine_for(config_for(site.url, gemini=GEMINI), store, Clock())
    metrics = Metrics(CollectorRegistry(auto_describe=True))
    metrics.add_gauges(engine.gauges)
    await engine.refresh("gemini")
    labels = {
        "offering": STANDARD,
        "provider": "gemini",
        "model": "imagen-4.0-generate-001",
        "unit": "image",
        "source": "gemini",
    }
    sample = metrics.registry.get_sample_value
    assert sample("provmon_price_usd", labels) == 0.04
    assert sample("provmon_price_fetch_success", {"source": "gemini"}) == 1.0
    assert sample("provmon_price_stale", {"offering": STANDARD, "source": "gemini"}) == 0.0
    assert sample("provmon_price_disagreement", {"offering": STANDARD}) == 0.0


async def test_before_the_primary_source_is_read_the_listing_prices_a_probe(
    site: Pages, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cross-check source (LiteLLM's 0.0398) must not price paid probes just because it
    answered before the provider's own page did."""
    monkeypatch.setenv("FAL_KEY", "sim-fal-key")
    config = config_for(site.url, **FAL_AND_LITELLM)
    engine = engine_for(config, store, Clock())
    offering = "fal/imagen-4.0-generate-001"
    site.control("price", source="fal_pricing_api", offering=offering, amount="0.041")
    assert (await engine.refresh("litellm")).ok
    assert price(engine, offering, "litellm") == pytest.approx(0.0398)
    assert config.offerings[offering].listed_price_usd == Decimal("0.04")
    assert engine.price_of(offering) == Decimal("0.04")  # the listing, not LiteLLM
    assert (await engine.refresh("fal")).ok
    assert engine.price_of(offering) == Decimal("0.041")  # the primary, once read
