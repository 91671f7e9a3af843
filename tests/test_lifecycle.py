"""Lifecycle states, shutdown schedules from deprecation pages, served-model changes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from monitor.deprecations import DEPRECATION_SOURCES, DeprecationParseError, parse_date
from monitor.lifecycle import (
    Lifecycle,
    ServedModels,
    Shutdown,
    catalog_shutdowns,
    lifecycle_of,
    routable,
    same_model,
    shutdown_for,
)

PAGES = Path(__file__).parent / "fixtures" / "deprecations"
NOW = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)


def _day(value: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), tzinfo=dt.UTC)


def test_the_gemini_page_gives_shutdown_dates_and_replacements_by_model() -> None:
    text = (PAGES / "gemini_deprecations" / "normal.md.txt").read_text()
    found = {
        s.model: s
        for s in DEPRECATION_SOURCES["gemini_deprecations"].parse(text, provider="gemini")
    }
    assert found["gemini-3.1-flash-image"].at == _day("2026-10-29")
    assert found["gemini-3.1-flash-image"].replacement == "gemini-nano-banana-2.1"
    assert found["imagen-4.0-ultra-generate-001"].at == _day("2026-08-17")
    assert found["gemini-3-pro-image-preview"].at == _day("2026-06-25")
    assert found["gemini-2.0-flash"].earliest and found["gemini-2.0-flash"].at == _day("2026-02-01")
    # "No shutdown date announced" is read, and is no shutdown
    assert "gemini-nano-banana-2.1" not in found and "gemini-3-pro-image" not in found
    assert {s.provider for s in found.values()} == {"gemini"}


@pytest.mark.parametrize("name", ["normal.md", "normal.html"])
def test_the_openai_page_names_every_model_of_a_row(name: str) -> None:
    text = (PAGES / "openai_deprecations" / name).read_text()
    found = {s.model: s for s in DEPRECATION_SOURCES["openai_deprecations"].parse(text)}
    assert found["gpt-image-1.5"].at == _day("2026-12-01")
    assert found["gpt-image-1.5-2025-12-16"].at == _day("2026-12-01")
    assert found["gpt-image-1-mini"].replacement == "gpt-image-2.6-sunburst or gpt-image-2.6-flare"
    if name == "normal.md":
        assert found["gpt-image-1"].at == _day("2026-10-23")
        assert found["dall-e-3"].replacement == "gpt-image-1"


@pytest.mark.parametrize(
    ("kind", "name"),
    [("gemini_deprecations", "broken.md.txt"), ("openai_deprecations", "broken.md")],
)
def test_a_restructured_page_is_a_parse_failure_never_no_shutdowns(kind: str, name: str) -> None:
    text = (PAGES / kind / name).read_text()
    with pytest.raises(DeprecationParseError):
        DEPRECATION_SOURCES[kind].parse(text)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("June 25, 2026", (dt.date(2026, 6, 25), False)),
        ("Dec 1, 2026", (dt.date(2026, 12, 1), False)),
        ("14 January 2027", (dt.date(2027, 1, 14), False)),
        ("2026-10-23", (dt.date(2026, 10, 23), False)),
        ("Earliest February 2026", (dt.date(2026, 2, 1), True)),
        ("**Sept. 3, 2026**", (dt.date(2026, 9, 3), False)),
        ("No shutdown date announced", (None, False)),
    ],
)
def test_shutdown_cells_in_every_form_the_pages_use(cell: str, expected: object) -> None:
    assert parse_date(cell) == expected


def test_a_cell_that_is_no_date_is_refused() -> None:
    with pytest.raises(ValueError, match="not a shutdown date"):
        parse_date("when the next model ships")


def test_lifecycle_follows_the_evidence_in_order_of_weight() -> None:
    soon = Shutdown(model="m", at=_day("2026-12-20"), source="openai_deprecations")
    past = Shutdown(model="m", at=_day("2026-11-30"), source="catalog")
    live = lifecycle_of("p/m", now=NOW, shutdown=None, listed=True, answered_gone=False)
    assert live.state == Lifecycle.LIVE and routable(live)
    deprecated = lifecycle_of("p/m", now=NOW, shutdown=soon, listed=True, answered_gone=False)
    assert deprecated.state == Lifecycle.DEPRECATED and routable(deprecated)
    assert "2026-12-20" in deprecated.reason
    unlisted = lifecycle_of("p/m", now=NOW, shutdown=soon, listed=False, answered_gone=False)
    assert unlisted.state == Lifecycle.UNLISTED
    retired = lifecycle_of("p/m", now=NOW, shutdown=past, listed=True, answered_gone=False)
    assert retired.state == Lifecycle.RETIRED and not routable(retired)
    gone = lifecycle_of("p/m", now=NOW, shutdown=None, listed=None, answered_gone=True)
    assert gone.state == Lifecycle.RETIRED


def test_an_offering_is_retired_at_its_shutdown_time_not_a_moment_before() -> None:
    at = _day("2026-12-02")
    shutdown = Shutdown(model="m", at=at)
    before = lifecycle_of(
        "p/m", now=at - dt.timedelta(seconds=1), shutdown=shutdown, listed=None, answered_gone=False
    )
    after = lifecycle_of("p/m", now=at, shutdown=shutdown, listed=None, answered_gone=False)
    assert before.state == Lifecycle.DEPRECATED and after.state == Lifecycle.RETIRED


def test_the_earliest_shutdown_for_the_provider_or_all_providers_applies() -> None:
    shutdowns = [
        Shutdown(model="gemini-3.1-flash-image", at=_day("2026-10-29"), provider="gemini"),
        Shutdown(model="gemini-3.1-flash-image", at=_day("2027-01-15"), provider="vertex"),
        *catalog_shutdowns({"gemini-3.1-flash-image": "2027-03-01", "other": None}),
    ]
    assert shutdown_for(shutdowns, "gemini", "gemini-3.1-flash-image", "x").at == _day("2026-10-29")
    assert shutdown_for(shutdowns, "vertex", "gemini-3.1-flash-image", "x").at == _day("2027-01-15")
    assert shutdown_for(shutdowns, "fal", "gemini-3.1-flash-image", "x").at == _day("2027-03-01")
    assert shutdown_for(shutdowns, "fal", "other", "other") is None


@pytest.mark.parametrize(
    ("asked", "served", "same"),
    [
        ("gemini-3-pro-image", "gemini-3-pro-image", True),
        ("gemini-3-pro-image", "gemini-3-pro-image-001", True),
        ("gpt-image-2", "gpt-image-2-2026-04-21", True),
        ("gemini-3-pro-image", "models/gemini-3-pro-image", True),
        ("grok-imagine-image-pro", "grok-imagine-image-quality", False),
        ("gpt-image-2", "gpt-image-2.5-sunburst", False),
    ],
)
def test_a_snapshot_of_the_asked_model_is_no_redirect(asked: str, served: str, same: bool) -> None:
    assert same_model(asked, served) is same


def test_served_model_events_on_a_redirect_and_on_every_later_change() -> None:
    served = ServedModels()
    assert (
        served.observe("xai/pro", "grok-imagine-image-pro", "grok-imagine-image-pro", NOW) is None
    )
    assert served.observe("xai/pro", "grok-imagine-image-pro", None, NOW) is None
    event = served.observe("xai/pro", "grok-imagine-image-pro", "grok-imagine-image-quality", NOW)
    assert event is not None and event.previous == "grok-imagine-image-pro"
    assert "changed from grok-imagine-image-pro to grok-imagine-image-quality" in event.summary
    assert (
        served.observe("xai/pro", "grok-imagine-image-pro", "grok-imagine-image-quality", NOW)
        is None
    )
    fresh = ServedModels()
    first = fresh.observe("o/gpt-image-2", "gpt-image-2", "gpt-image-2.5-sunburst", NOW)
    assert (
        first is not None
        and first.summary == "answers name gpt-image-2.5-sunburst, not gpt-image-2"
    )
