"""Status feeds: saved bodies of both shapes, the simulator's fakes over a socket, and the
rule that a feed raises suspicion but never decides a state."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from bench._replay import FeedScript, Member, run_provmon
from bench._worlds import generation_fails, healthy
from monitor.catalogs import load_catalog
from monitor.feeds import (
    FeedError,
    FeedKind,
    parse,
    parse_google_cloud,
    parse_statuspage,
    suspicion,
)
from monitor.health import State
from monitor.interfaces import Outcome

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_an_operational_statuspage_has_no_incident() -> None:
    assert parse_statuspage("fal", body("statuspage_summary_operational.json")) == []


def test_a_statuspage_incident_names_its_components_and_start() -> None:
    incidents = parse_statuspage("fal", body("statuspage_summary_incident.json"))
    by_id = {i.id: i for i in incidents}
    active = by_id["p2c8v7w1d5nb"]
    assert active.active and active.impact == "major" and active.status == "identified"
    assert "Model APIs" in active.components
    assert active.started_at == dt.datetime(2026, 11, 30, 9, 22, tzinfo=dt.UTC)
    # a degraded component no incident names yet is a claim too
    queue = [i for i in incidents if "Queue" in i.components]
    assert len(queue) == 1 and queue[0].active and queue[0].impact == "minor"


def test_resolved_incidents_are_not_active() -> None:
    incidents = parse_statuspage("fal", body("statuspage_incidents.json"))
    assert {i.id: i.active for i in incidents} == {"p2c8v7w1d5nb": True, "h3m9r0z6q4ta": False}


def test_google_cloud_incidents_skip_notices_and_close_on_end() -> None:
    incidents = parse_google_cloud("google", body("google_cloud_incidents.json"))
    assert [(i.id, i.active) for i in incidents] == [
        ("aB3dE5fG7hJ9kL1mN3pQ", True),
        ("qR5sT7uV9wX1yZ3aB5cD", False),
    ]
    assert "Vertex Gemini API" in incidents[0].components


@pytest.mark.parametrize(
    ("kind", "name", "message"),
    [
        (FeedKind.STATUSPAGE, "broken_truncated.json", "not JSON"),
        (FeedKind.GOOGLE_CLOUD, "broken_truncated.json", "not JSON"),
        (FeedKind.STATUSPAGE, "statuspage_incident_without_id.json", "without an id"),
        (FeedKind.GOOGLE_CLOUD, "google_cloud_incident_without_begin.json", "no begin time"),
        (FeedKind.GOOGLE_CLOUD, "statuspage_incidents.json", "expected a list"),
        (FeedKind.STATUSPAGE, "google_cloud_incidents.json", "'incidents' list"),
    ],
)
def test_a_broken_feed_is_one_clear_line(kind: FeedKind, name: str, message: str) -> None:
    with pytest.raises(FeedError) as err:
        parse(kind, "feed-x", body(name))
    text = str(err.value)
    assert message in text and "feed-x" in text and "\n" not in text
    assert "p2c8" not in text  # the body is never echoed


def test_suspicion_maps_active_components_to_offerings_only() -> None:
    incidents = parse_statuspage("fal", body("statuspage_incidents.json"))
    mapping = {"Model APIs": ["fal/imagen-4.0-generate-001"], "Queue": ["fal/other"]}
    assert suspicion(incidents, mapping) == {
        "fal/imagen-4.0-generate-001": dt.datetime(2026, 11, 30, 9, 22, tzinfo=dt.UTC)
    }


def test_the_simulated_feeds_serve_both_shapes_over_a_socket(sim_url: str) -> None:
    component = "Imagen image generation"
    httpx.delete(f"{sim_url}/_sim/feeds/fal").raise_for_status()
    httpx.delete(f"{sim_url}/_sim/feeds/google").raise_for_status()
    summary = httpx.get(f"{sim_url}/status/fal/api/v2/summary.json")
    assert summary.status_code == 200
    assert [i for i in parse_statuspage("fal", summary.content) if i.active] == []
    for page in ("fal", "google"):
        made = httpx.post(
            f"{sim_url}/_sim/feeds/{page}",
            json={"name": "Elevated errors", "components": [component], "impact": "major"},
        )
        made.raise_for_status()
    mapping = {component: ["fal/imagen-4.0-generate-001"]}
    for kind, url, page in (
        (FeedKind.STATUSPAGE, "/status/fal/api/v2/summary.json", "fal"),
        (FeedKind.STATUSPAGE, "/status/fal/api/v2/incidents.json", "fal"),
        (FeedKind.GOOGLE_CLOUD, "/status/google/incidents.json", "google"),
    ):
        got = parse(kind, page, httpx.get(f"{sim_url}{url}").content)
        assert set(suspicion(got, mapping)) == {"fal/imagen-4.0-generate-001"}, url
    httpx.delete(f"{sim_url}/_sim/feeds/google").raise_for_status()
    google = parse(
        FeedKind.GOOGLE_CLOUD,
        "google",
        httpx.get(f"{sim_url}/status/google/incidents.json").content,
    )
    assert google and not any(i.active for i in google)
    httpx.post(f"{sim_url}/_sim/feeds/fal", json={"broken": True}).raise_for_status()
    try:
        with pytest.raises(FeedError):
            parse(
                FeedKind.STATUSPAGE,
                "fal",
                httpx.get(f"{sim_url}/status/fal/api/v2/summary.json").content,
            )
    finally:
        httpx.post(f"{sim_url}/_sim/feeds/fal", json={"broken": False})
        httpx.delete(f"{sim_url}/_sim/feeds/fal")


MEMBERS = tuple(
    Member(offering=f"{p}/imagen-4.0-generate-001", price=Decimal("0.04"), feed=True)
    for p in ("vertex", "gemini", "fal")
)


def test_a_lying_feed_neither_downs_a_healthy_group_nor_hides_an_outage() -> None:
    """The same replay the benchmark and the service's decisions use: an incident while
    nothing is wrong costs a confirmation probe per member and no state; silence during
    an outage leaves the paid probes to find it."""

    asked: dict[str, list[float]] = {}

    def fine(offering: str, kind: str, t: float, rng: random.Random) -> tuple[Outcome, float]:
        if kind == "generate":
            asked.setdefault(offering, []).append(t)
        return healthy(kind, rng)

    lie = FeedScript(incidents=((3600.0, 3 * 3600.0),))
    calm = run_provmon(MEMBERS, fine, 4 * 3600.0, random.Random(1), feed=lie)
    for offering, trace in calm.traces.items():
        assert [s for _, s in trace.changes] == [State.UP], offering
        # the claim was checked at once (a poll a minute), then left alone
        checked = [t for t in asked[offering] if 3600.0 <= t <= 3600.0 + 61.0]
        assert len(checked) == 1, (offering, asked[offering])

    def outage(offering: str, kind: str, t: float, rng: random.Random) -> tuple[Outcome, float]:
        return generation_fails(kind, rng) if t >= 7200.0 else healthy(kind, rng)

    silent = run_provmon(
        MEMBERS,
        outage,
        6 * 3600.0,
        random.Random(2),
        feed=FeedScript(),
        affected=frozenset(m.offering for m in MEMBERS),
    )
    for offering, trace in silent.traces.items():
        assert trace.changes[-1][1] == State.DOWN, offering


@pytest.mark.parametrize(
    ("feed", "message"),
    [
        (
            {
                "kind": "statuspage",
                "url": "https://s.example/api/v2/summary.json",
                "components": {"Image API": ["fal/no-such-model"]},
            },
            "status_feeds.fal.components.Image API: unknown offering 'fal/no-such-model'",
        ),
        (
            {"kind": "rss", "url": "https://s.example/feed", "components": {}},
            "status_feeds.fal.kind",
        ),
        (
            {"kind": "statuspage", "url": "file:///etc/passwd", "components": {}},
            "status_feeds.fal.url",
        ),
    ],
)
def test_a_bad_status_feed_config_names_its_key(feed: dict[str, object], message: str) -> None:
    from monitor.config import ConfigError, parse_config

    data = load_catalog("imagen4").model_dump(mode="json")
    data["status_feeds"] = {"fal": feed}
    with pytest.raises(ConfigError) as err:
        parse_config(data, origin="test.yaml")
    assert message in str(err.value)


def test_models_share_fate_by_upstream_else_family() -> None:
    from monitor.config import parse_config
    from monitor.fate_hooks import upstream_of

    data = load_catalog("imagen4").model_dump(mode="json")
    data["models"]["imagen-4.0-ultra-generate-001"]["upstream"] = "imagen-4-ultra-pool"
    config = parse_config(data, origin="test.yaml")
    assert upstream_of(config, "fal/imagen-4.0-generate-001") == "imagen-4"
    assert upstream_of(config, "fal/imagen-4.0-ultra-generate-001") == "imagen-4-ultra-pool"
