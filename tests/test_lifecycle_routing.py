"""Routing and the exported gateway configs drop an offering at its shutdown time, not at
the first 404 (issue 16), with a frozen clock on the lifecycle watch."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest

from monitor.catalogs import load_catalog
from monitor.config import point_at_simulator, simulator_credentials
from monitor.lifecycle import Shutdown
from monitor.servers import Server
from monitor.service import Service
from monitor.web import build_api

OFFERING = "openai/gpt-image-2"
SHUTDOWN = dt.datetime(2027, 1, 15, tzinfo=dt.UTC)


async def test_an_offering_leaves_routes_and_gateway_configs_at_its_shutdown_time(
    sim_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = load_catalog("live")
    for name, value in simulator_credentials(live).items():
        monkeypatch.setenv(name, value)
    service = Service(point_at_simulator(live, sim_url), f"sqlite:///{tmp_path / 'l.db'}")
    await service.start(schedule=False)
    server = Server(build_api(service), "127.0.0.1", 0)
    await server.start()
    clock = {"now": SHUTDOWN - dt.timedelta(seconds=1)}
    watch = service.lifecycle.watch
    watch.now = lambda: clock["now"]
    # a deprecation page announced it (what read_source stores)
    watch.pages["openai_deprecations"] = [
        Shutdown(model="gpt-image-2", at=SHUTDOWN, provider="openai", source="openai_deprecations")
    ]
    watch.version += 1  # as read_source does
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:

            async def exported() -> tuple[set[str], set[str], str]:
                service.evaluate_routes(clock["now"])
                routes = (await client.get("/api/routing", params={"policy": "cost"})).json()
                routed = {
                    e["offering"] for r in routes["routes"] for e in r["entries"] if e["rank"] > 0
                }
                answer = await client.get("/api/routing", params={"format": "litellm"})
                litellm = {d["litellm_params"]["model"] for d in answer.json()["model_list"]}
                catalog = (await client.get("/api/catalog")).json()
                [view] = [o for o in catalog["offerings"] if o["offering"] == OFFERING]
                assert f'{view["lifecycle"]}"}} 1.0' in await lifecycle_lines(client)
                return routed, litellm, view["lifecycle"]

            routed, litellm, lifecycle = await exported()
            assert lifecycle == "deprecated"
            assert OFFERING in routed and "openai/gpt-image-2" in litellm
            clock["now"] = SHUTDOWN
            routed, litellm, lifecycle = await exported()
            assert lifecycle == "retired"
            assert OFFERING not in routed
            assert "openai/gpt-image-2" not in litellm
            assert "openai/gpt-image-2.6-flare" in litellm  # its siblings stay
    finally:
        await server.stop()
        await service.stop()


async def lifecycle_lines(client: httpx.AsyncClient) -> str:
    """The offering's ``provmon_offering_lifecycle`` lines in a ``/metrics`` scrape."""
    text = (await client.get("/metrics")).text
    mine = f'offering="{OFFERING}"'
    return "\n".join(
        line
        for line in text.splitlines()
        if line.startswith("provmon_offering_lifecycle{") and mine in line
    )
