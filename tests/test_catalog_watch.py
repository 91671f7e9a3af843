"""The service's lifecycle watch: shutdowns from the catalog and from a deprecation page
read over a socket, served-model events, listings, and the gauges they export."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from monitor.catalog_watch import CatalogWatch
from monitor.config import Config
from monitor.discovery import Discovery, compare
from monitor.http import build_client
from monitor.interfaces import Gauge, Kind, ListedModel, Outcome, Phase, ProbeResult
from monitor.lifecycle import Lifecycle

NOW = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)


def _result(offering: str, served: str | None) -> ProbeResult:
    provider, _, model = offering.partition("/")
    return ProbeResult(
        probe_id=str(uuid.uuid4()),
        offering=offering,
        provider=provider,
        model=model,
        vantage="local",
        kind=Kind.GENERATE,
        outcome=Outcome.OK,
        started_at=NOW,
        phases={Phase.TOTAL: 1.0},
        served_model=served,
    )


def test_catalog_shutdown_dates_retire_offerings_and_leave_routing_at_that_time(
    sim_config: Config,
) -> None:
    clock = {"now": dt.datetime(2026, 8, 16, 23, 59, tzinfo=dt.UTC)}
    watch = CatalogWatch(sim_config, now=lambda: clock["now"])
    offering = "gemini/imagen-4.0-generate-001"
    assert watch.view(offering).state == Lifecycle.DEPRECATED
    assert watch.routable(offering)
    clock["now"] = dt.datetime(2026, 8, 17, tzinfo=dt.UTC)
    assert watch.view(offering).state == Lifecycle.RETIRED
    assert not watch.routable(offering)


async def test_a_deprecation_page_read_over_a_socket_gives_shutdown_dates(
    sim_config: Config,
) -> None:
    watch = CatalogWatch(sim_config, now=lambda: NOW)
    async with build_client() as client:
        read = await watch.read_source("gemini_deprecations", client)
    assert read.ok and read.shutdowns >= 3
    shutdown = watch.shutdown_of("gemini/imagen-4.0-ultra-generate-001")
    assert shutdown is not None and shutdown.source in ("gemini_deprecations", "catalog")
    assert shutdown.at == dt.datetime(2026, 8, 17, tzinfo=dt.UTC)
    page = [s for s in watch.pages["gemini_deprecations"] if s.model.startswith("imagen-4.0-ultra")]
    assert page and page[0].replacement == "gemini-3-pro-image"
    assert {s.provider for s in watch.pages["gemini_deprecations"]} == {"gemini"}
    rows = list(watch.gauges())
    success = [r for r in rows if r.name == Gauge.LIFECYCLE_SOURCE_SUCCESS]
    assert [(r.labels["source"], r.value) for r in success] == [("gemini_deprecations", 1.0)]


async def test_a_broken_deprecation_page_keeps_the_dates_read_before(
    sim_config: Config, sim_url: str
) -> None:
    watch = CatalogWatch(sim_config, now=lambda: NOW)
    async with build_client() as client:
        assert (await watch.read_source("gemini_deprecations", client)).ok
        before = list(watch.pages["gemini_deprecations"])
        source = sim_config.lifecycle_sources["gemini_deprecations"]
        moved = source.model_copy(update={"url": f"{sim_url}/pages/gemini/nowhere.md.txt"})
        watch.config = sim_config.model_copy(
            update={"lifecycle_sources": {"gemini_deprecations": moved}}
        )
        read = await watch.read_source("gemini_deprecations", client)
    assert not read.ok and read.error
    assert watch.pages["gemini_deprecations"] == before
    assert watch.source_ok["gemini_deprecations"] is False


def test_a_served_model_change_is_an_event_once(sim_config: Config) -> None:
    watch = CatalogWatch(sim_config, now=lambda: NOW)
    offering = "lumenfall/imagen-4.0-generate-001"
    assert watch.observe(_result(offering, "imagen-4.0-generate-001")) is None
    event = watch.observe(_result(offering, "gemini-nano-banana-2.1"))
    assert event is not None and event.previous == "imagen-4.0-generate-001"
    assert watch.observe(_result(offering, "gemini-nano-banana-2.1")) is None
    assert list(watch.events) == [event]


def test_listings_mark_unlisted_offerings_and_count_new_models(sim_config: Config) -> None:
    watch = CatalogWatch(sim_config, now=lambda: NOW)
    listed = [
        ListedModel(model="imagen-4.0-generate-001", image=True),
        ListedModel(model="imagen-4.0-fast-generate-001", image=True),
        ListedModel(model="gpt-image-2", image=True, price_usd=Decimal("0.006")),
        ListedModel(model="text-embedding-9", image=False),
    ]
    watch.record_discoveries([compare(sim_config, "lumenfall", listed)])
    ultra = "lumenfall/imagen-4.0-ultra-generate-001"
    assert watch.discoveries.unlisted() == {ultra}
    assert watch.view(ultra).state == Lifecycle.RETIRED  # past the catalog's shutdown date
    rows = {(r.name, tuple(sorted(r.labels.items()))): r.value for r in watch.gauges()}
    assert rows[(Gauge.CATALOG_UNLISTED, (("offering", ultra),))] == 1.0
    assert rows[(Gauge.CATALOG_NEW_MODELS, (("provider", "lumenfall"),))] == 1.0
    # a failed listing keeps the last good answer
    watch.record_discoveries([Discovery(provider="lumenfall", error="HTTP 503")])
    assert watch.discoveries.unlisted() == {ultra}


@pytest.mark.parametrize("state", list(Lifecycle))
def test_every_offering_exports_one_lifecycle_state(sim_config: Config, state: Lifecycle) -> None:
    watch = CatalogWatch(sim_config, now=lambda: NOW)
    rows = [r for r in watch.gauges() if r.name == Gauge.LIFECYCLE]
    assert len(rows) == len(sim_config.enabled_offerings()) * len(Lifecycle)
    chosen = [r for r in rows if r.labels["state"] == state.value and r.value == 1.0]
    expected = len(sim_config.enabled_offerings()) if state == Lifecycle.RETIRED else 0
    assert len(chosen) == expected
