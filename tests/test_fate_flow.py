"""Shared fate and status feeds in the running service, over real sockets: a failure at
one member brings early paid probes to its siblings; an upstream outage is told from a
single provider's; a feed incident brings one early probe and changes no state."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from monitor.config import Config
from monitor.fate import Verdict
from monitor.interfaces import Kind
from monitor.scheduler import job_id
from tests.conftest import sample, set_behaviour
from tests.test_flows import (
    FAL,
    FAST,
    GEMINI,
    LUMENFALL,
    MODEL,
    flow_config,
    metrics_of,
    serving,
    state_of,
    until,
)

#: the simulator's targets (``fake:model``) of the three members
TARGET = {
    LUMENFALL: f"openai:{MODEL}",
    GEMINI: f"gemini:{MODEL}",
    FAL: "fal:fal-ai/imagen4/preview",
}
MEMBERS = (LUMENFALL, GEMINI, FAL)


def fate_config(base: Config, sim_url: str, **overrides: object) -> Config:
    """Three resellers of one model (one upstream: the ``imagen-4`` family); regular paid
    probes an hour apart, so any paid probe within the test is an early one."""
    config = flow_config(base, offerings=MEMBERS, generate_every=3600.0, **overrides)
    return config


#: the simulated fal status page's component that covers the fal member
COMPONENT = "Imagen image generation"


@asynccontextmanager
async def fal_feed(base: Config, sim_url: str) -> AsyncIterator[tuple[Config, httpx.AsyncClient]]:
    """Every fake fast; a :func:`fate_config` that reads the simulated fal status feed (its
    component covering the fal member), the feed without an incident, and a client to post
    incidents to it. The feed is cleared again afterwards."""
    set_behaviour(sim_url, "*", **FAST)
    feeds = {
        "fal": {
            "kind": "statuspage",
            "url": f"{sim_url}/status/fal/api/v2/summary.json",
            "interval_seconds": 3600,
            "components": {COMPONENT: [FAL]},
        }
    }
    sim = httpx.AsyncClient(base_url=sim_url)
    try:
        (await sim.delete("/_sim/feeds/fal")).raise_for_status()
        yield fate_config(base, sim_url, status_feeds=feeds), sim
    finally:
        await sim.delete("/_sim/feeds/fal")
        await sim.aclose()


async def generate_probes(api: httpx.AsyncClient, offering: str) -> float:
    """Paid probes of ``offering`` so far, whatever their outcome (on a loaded machine an
    early probe may time out: it still ran)."""
    text = await metrics_of(api)
    wanted = (f'offering="{offering}"', 'kind="generate"')
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("provmon_probes_total{") and all(w in line for w in wanted)
    )


async def test_one_failure_brings_siblings_early_probes_and_the_verdict_follows(
    sim_config: Config, sim_url: str, tmp_path: Path
) -> None:
    set_behaviour(sim_url, "*", **FAST)
    config = fate_config(sim_config, sim_url)
    async with serving(config, f"sqlite:///{tmp_path / 'p.db'}", schedule=True) as (service, api):
        assert set(service.fate.siblings(FAL)) == {LUMENFALL, GEMINI}

        async def all_up() -> bool:
            return all([(await state_of(api, m))["state"] == "up" for m in MEMBERS])

        await until(all_up, 45)  # the first paid probe of each, at start
        before = {m: await generate_probes(api, m) for m in (LUMENFALL, GEMINI)}
        set_behaviour(sim_url, TARGET[FAL], outage="error", generation_only=True)
        await service.probe_once(FAL, Kind.GENERATE)

        async def siblings_confirmed() -> bool:
            # asked an hour early: the sibling's next paid probe is moved near (the probe
            # itself may wait on a loaded machine), or it already ran
            now = {m: await generate_probes(api, m) for m in before}
            soon = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
            moved = {
                m: (job := service.scheduler.scheduler.get_job(job_id(m, Kind.GENERATE)))
                is not None
                and job.next_run_time is not None
                and job.next_run_time <= soon
                for m in before
            }
            return all(now[m] > before[m] or moved[m] for m in before)

        await until(siblings_confirmed, 45)
        await until(lambda: _state_is(api, FAL, "down"), 45)
        assert service.fate.verdict(FAL) == (Verdict.SINGLE, (FAL,))
        assert {(await state_of(api, m))["state"] for m in (LUMENFALL, GEMINI)} == {"up"}

        # the upstream itself fails: the group confirms everywhere and says so
        for member in (LUMENFALL, GEMINI):
            set_behaviour(sim_url, TARGET[member], outage="error", generation_only=True)
        await service.probe_once(GEMINI, Kind.GENERATE)

        async def upstream() -> bool:
            states = [(await state_of(api, m))["state"] for m in MEMBERS]
            for member, state in zip(MEMBERS, states, strict=True):
                if state != "down":  # confirm now rather than wait on the scheduler
                    await service.probe_once(member, Kind.GENERATE)
            return service.fate.verdict(FAL)[0] == Verdict.UPSTREAM and states == ["down"] * 3

        await until(upstream, 60)


async def _state_is(api: httpx.AsyncClient, offering: str, state: str) -> bool:
    return bool((await state_of(api, offering))["state"] == state)


async def test_a_feed_incident_asks_one_early_probe_and_downs_nothing(
    sim_config: Config, sim_url: str, tmp_path: Path
) -> None:
    async with (
        fal_feed(sim_config, sim_url) as (config, sim),
        serving(config, f"sqlite:///{tmp_path / 'p.db'}", schedule=True) as (service, api),
    ):

        async def all_up() -> bool:
            return all([(await state_of(api, m))["state"] == "up" for m in MEMBERS])

        await until(all_up, 20)
        await service.poll_feed("fal")
        assert service.fate.feed_since == {}
        text = await metrics_of(api)
        assert sample(text, "provmon_status_feed_incident", offering=FAL, feed="fal") == 0.0
        before = await generate_probes(api, FAL)
        # the feed lies: an incident while nothing is wrong
        made = await sim.post(
            "/_sim/feeds/fal",
            json={"name": "Elevated errors", "components": [COMPONENT], "impact": "major"},
        )
        made.raise_for_status()
        await service.poll_feed("fal")
        assert set(service.fate.feed_since) == {FAL}
        # the board's annotation reads this series
        text = await metrics_of(api)
        assert sample(text, "provmon_status_feed_incident", offering=FAL, feed="fal") == 1.0

        async def confirmed() -> bool:
            return await generate_probes(api, FAL) == before + 1

        await until(confirmed, 10)
        await service.poll_feed("fal")  # the same incident: no second probe
        assert await generate_probes(api, FAL) == before + 1
        assert (await state_of(api, FAL))["state"] == "up"


@pytest.fixture(autouse=True)
def _clear_sim(sim_url: str) -> None:
    httpx.delete(f"{sim_url}/_sim/behaviour")
