"""A dead account on one offering (issue 14): out of routing with reason ``account``, the
account gauge set for it alone, the outage alert's exception in place; others untouched."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from monitor.catalogs import load_catalog
from monitor.config import Config, point_at_simulator, simulator_credentials
from monitor.interfaces import Kind, Outcome
from monitor.servers import Server
from monitor.service import Service
from monitor.web import build_api
from tests.conftest import sample, set_behaviour

DEAD = "fal/flux-2-pro"
DEAD_ENDPOINT = "fal-ai/flux-2-pro"
FINE = "fal/qwen-image"


async def test_a_dead_account_leaves_routing_as_ours_to_fix_and_touches_no_other_offering(
    sim_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = load_catalog("live")
    for name, value in simulator_credentials(live).items():
        monkeypatch.setenv(name, value)
    data = point_at_simulator(live, sim_url).model_dump(mode="json")
    data["offerings"] = {k: data["offerings"][k] for k in (DEAD, FINE)}
    data["status_feeds"] = {}  # they name offerings this test leaves out
    data["budget"] = {"daily_usd": "100", "offering_daily_usd": "100"}
    service = Service(Config.model_validate(data), f"sqlite:///{tmp_path / 'a.db'}")
    await service.start(schedule=False)
    server = Server(build_api(service), "127.0.0.1", 0)
    await server.start()
    fast = {"ttfb": {"fixed": 0.01}, "inference": {"fixed": 0.02}, "queue": {"fixed": 0.01}}
    set_behaviour(sim_url, "fal:*", latency=fast)
    # the fal fake refuses billable calls as fal does for an exhausted balance
    set_behaviour(sim_url, f"fal:{DEAD_ENDPOINT}", account="exhausted")
    try:
        for _ in range(5):
            dead = await service.probe_once(DEAD, Kind.GENERATE)
            fine = await service.probe_once(FINE, Kind.GENERATE)
            assert dead is not None and fine is not None
            assert dead.outcome == Outcome.AUTH_ERROR and fine.outcome == Outcome.OK
        assert dead.error is not None and dead.error.startswith("account problem (billing)")
        service.evaluate_routes()
        async with httpx.AsyncClient(base_url=server.url) as client:
            states = {s["offering"]: s for s in (await client.get("/api/state")).json()}
            metrics = (await client.get("/metrics")).text
            answer = await client.get("/api/routing", params={"policy": "cost"})
            routes = answer.json()["routes"]
        assert states[DEAD]["account_problem"] is True
        assert states[DEAD]["reason"].startswith("account:")
        assert states[FINE]["account_problem"] is False and states[FINE]["state"] == "up"
        assert sample(metrics, "provmon_offering_account_problem", offering=DEAD) == 1.0
        assert sample(metrics, "provmon_offering_account_problem", offering=FINE) == 0.0
        ranked = {e["offering"]: e["rank"] for r in routes for e in r["entries"]}
        reasons = {e["offering"]: e["reason"] for r in routes for e in r["entries"]}
        assert ranked[DEAD] == 0, reasons  # out of routing
        assert ranked[FINE] >= 1, reasons  # the other stays
        # a healthy answer clears it: the account was fixed
        set_behaviour(sim_url, f"fal:{DEAD_ENDPOINT}", account="ok")
        again = await service.probe_once(DEAD, Kind.GENERATE)
        assert again is not None and again.outcome == Outcome.OK
        assert service.state_of(DEAD).account_problem is False
    finally:
        await server.stop()
        await service.stop()
