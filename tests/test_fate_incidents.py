"""Group incidents (issue 17): an upstream outage is one incident of its own, stored as
``upstream/<group>`` with the members' incidents linked to it on ``/api/incidents`` and a
line on the status page; a single reseller's outage opens nothing for the group. Over
real sockets against the simulator, on SQLite and PostgreSQL. Status-feed incidents are a
line on the status page too."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from monitor.config import Config
from monitor.health import IncidentAction, State
from monitor.incidents import Spell, group_events, links
from monitor.interfaces import Kind
from tests.conftest import set_behaviour
from tests.test_fate_flow import COMPONENT, MEMBERS, TARGET, fal_feed, fate_config
from tests.test_flows import FAL, FAST, GEMINI, LUMENFALL, clear_behaviour, serving, state_of, until

T0 = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)


def test_a_group_incident_opens_once_and_closes_when_the_verdict_ends() -> None:
    down = ("fal/m", "gemini/m")
    [opened] = group_events("imagen-4", "local", False, down, T0)
    assert opened.action == IncidentAction.OPEN and opened.offering == "upstream/imagen-4"
    assert opened.state == State.DOWN and "fal, gemini" in opened.reason
    assert group_events("imagen-4", "local", True, down, T0) == []
    [closed] = group_events("imagen-4", "local", True, (), T0)
    assert closed.action == IncidentAction.CLOSE
    assert group_events("imagen-4", "local", False, (), T0) == []


def test_members_link_to_the_group_incident_they_overlap() -> None:
    hour = dt.timedelta(hours=1)
    spells = [
        Spell(offering="upstream/imagen-4", started_at=T0 + hour, ended_at=T0 + 3 * hour),
        Spell(offering="fal/m", started_at=T0, ended_at=T0 + 2 * hour),
        # SQLite gives naive UTC back
        Spell(offering="gemini/m", started_at=(T0 + hour).replace(tzinfo=None), ended_at=None),
        Spell(offering="fal/m", started_at=T0 + 4 * hour, ended_at=None),  # later, alone
        Spell(offering="other/x", started_at=T0, ended_at=None),  # another upstream
    ]
    upstream = {"fal/m": "imagen-4", "gemini/m": "imagen-4", "other/x": "flux"}
    assert links(spells, upstream) == [
        None,
        "upstream/imagen-4",
        "upstream/imagen-4",
        None,
        None,
    ]


async def incidents(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await api.get("/api/incidents")
    assert response.status_code == 200
    return list(response.json())


async def fail_until_down(service: Any, api: httpx.AsyncClient, offering: str) -> bool:
    if (await state_of(api, offering))["state"] != "down":
        await service.probe_once(offering, Kind.GENERATE)
    return bool((await state_of(api, offering))["state"] == "down")


async def test_an_upstream_outage_is_one_incident_its_members_link_to(
    sim_config: Config, sim_url: str, db_url: str
) -> None:
    set_behaviour(sim_url, "*", **FAST)
    config = fate_config(sim_config, sim_url)
    async with serving(config, db_url, schedule=False) as (service, api):
        group = service.fate.upstream[FAL]
        for member in MEMBERS:
            await service.probe_once(member, Kind.GENERATE)
        # one reseller fails: its own incident, none for the group
        set_behaviour(sim_url, TARGET[FAL], outage="error", generation_only=True)
        await until(lambda: fail_until_down(service, api, FAL), 30)
        rows = await until(lambda: incidents(api), 10)
        assert [(r["offering"], r["scope"], r["upstream_incident"]) for r in rows] == [
            (FAL, "offering", None)
        ]
        assert 'data-notice="upstream"' not in (await api.get("/")).text

        # the upstream fails at every reseller: one group incident, members linked
        for member in (LUMENFALL, GEMINI):
            set_behaviour(sim_url, TARGET[member], outage="error", generation_only=True)
        for member in (LUMENFALL, GEMINI):
            await until(lambda m=member: fail_until_down(service, api, m), 30)  # type: ignore[misc]

        async def linked() -> list[dict[str, Any]]:
            rows = await incidents(api)
            # the writer stores in batches: wait for the group's and every member's
            scopes = {r["offering"] for r in rows if r["ended_at"] is None}
            return rows if scopes >= {f"upstream/{group}", *MEMBERS} else []

        rows = await until(linked, 10)
        [upstream] = [r for r in rows if r["scope"] == "upstream"]
        assert upstream["offering"] == f"upstream/{group}" and upstream["ended_at"] is None
        assert "upstream outage" in upstream["reason"]
        members = {r["offering"]: r["upstream_incident"] for r in rows if r["scope"] != "upstream"}
        assert members == {m: f"upstream/{group}" for m in MEMBERS}
        page = (await api.get("/")).text
        assert 'data-notice="upstream"' in page and f"Upstream outage: {group}" in page

        # the upstream recovers: the group incident closes, the page line goes
        for member in MEMBERS:
            await clear_behaviour(sim_url, TARGET[member])

        async def closed() -> bool:
            for member in MEMBERS:
                await service.probe_once(member, Kind.GENERATE)
            rows = await incidents(api)
            return all(r["ended_at"] for r in rows if r["scope"] == "upstream")

        await until(closed, 30)
        assert 'data-notice="upstream"' not in (await api.get("/")).text


async def test_a_restart_carries_on_the_open_group_incident_and_closes_it_when_over(
    sim_config: Config, sim_url: str, db_url: str
) -> None:
    set_behaviour(sim_url, "*", **FAST)
    config = fate_config(sim_config, sim_url)
    for member in MEMBERS:
        set_behaviour(sim_url, TARGET[member], outage="error", generation_only=True)
    async with serving(config, db_url, schedule=False) as (service, api):
        group = f"upstream/{service.fate.upstream[FAL]}"
        for member in MEMBERS:
            await until(lambda m=member: fail_until_down(service, api, m), 30)  # type: ignore[misc]

        async def stored() -> bool:
            return any(r["offering"] == group for r in await incidents(api))

        await until(stored, 10)
    # provmon restarts while the upstream is still down: the same incident stays open
    async with serving(config, db_url, schedule=False) as (service, api):
        assert service.fate.open_groups == {group.removeprefix("upstream/")}
        page = (await api.get("/")).text
        assert 'data-notice="upstream"' in page
        rows = [r for r in await incidents(api) if r["offering"] == group]
        assert len(rows) == 1 and rows[0]["ended_at"] is None
        for member in MEMBERS:
            await clear_behaviour(sim_url, TARGET[member])
    # and restarts again after the upstream recovered unseen: the replay shows the
    # members still down, so the incident stays open until probes prove otherwise
    async with serving(config, db_url, schedule=False) as (service, api):

        async def closed() -> bool:
            for member in MEMBERS:
                await service.probe_once(member, Kind.GENERATE)
            rows = [r for r in await incidents(api) if r["offering"] == group]
            return len(rows) == 1 and rows[0]["ended_at"] is not None

        await until(closed, 30)


async def test_an_active_status_feed_incident_is_a_line_on_the_status_page(
    sim_config: Config, sim_url: str, tmp_path: Any
) -> None:
    async with (
        fal_feed(sim_config, sim_url) as (config, sim),
        serving(config, f"sqlite:///{tmp_path / 'p.db'}", schedule=False) as (service, api),
    ):
        await service.poll_feed("fal")
        assert 'data-notice="feed"' not in (await api.get("/")).text
        made = await sim.post(
            "/_sim/feeds/fal",
            json={"name": "Errors <b>on</b> Imagen", "components": [COMPONENT]},
        )
        made.raise_for_status()
        await service.poll_feed("fal")
        page = (await api.get("/")).text
        [line] = [part for part in page.split("<li ") if part.startswith('data-notice="feed"')]
        # the feed's text is escaped, the offering it covers named, never a state
        assert "Status feed fal: Errors &lt;b&gt;on&lt;/b&gt; Imagen" in line
        assert FAL in line and "<b>on</b>" not in page
        assert (await state_of(api, FAL))["state"] != "down"
        (await sim.delete("/_sim/feeds/fal")).raise_for_status()
        await service.poll_feed("fal")
        assert 'data-notice="feed"' not in (await api.get("/")).text


@pytest.fixture(autouse=True)
def _clear_sim(sim_url: str) -> None:
    httpx.delete(f"{sim_url}/_sim/behaviour")


def test_a_change_that_involves_no_down_state_does_not_walk_the_group() -> None:
    """The verdict reads which members are down, so a change between up, degraded and
    unknown leaves it as it was; at thousands of offerings per upstream, walking the group
    at every such change made an agent spend its whole core on it."""
    from dataclasses import replace

    from monitor.catalogs import load_catalog
    from monitor.fate_hooks import SharedFate
    from monitor.health import HealthState

    config = load_catalog("imagen4")
    reads: list[str] = []

    def state_of(offering: str) -> HealthState:
        reads.append(offering)
        return HealthState()

    fate = SharedFate(config, state_of, lambda _o: None, lambda _o, _p, _n: 3600.0)
    events: list[Any] = []
    fate.incident_sink = events.extend
    member = next(o for o in config.enabled_offerings() if len(fate.members(o)) >= 3)
    unknown = HealthState()
    up = replace(unknown, state=State.UP, since=dt.datetime(2026, 12, 2, tzinfo=dt.UTC))
    fate.state_changed(member, config.vantage, unknown, up)
    fate.state_changed(member, config.vantage, up, replace(up, state=State.DEGRADED))
    assert reads == [] and events == []
    fate.state_changed(member, config.vantage, up, replace(up, state=State.DOWN))
    assert set(reads) == set(fate.members(member))
