"""The service over real sockets: probes land in the store, the API and /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from monitor.config import Config
from monitor.interfaces import Kind, Outcome
from monitor.metrics import CONTENT_TYPE
from monitor.servers import Server
from monitor.service import Service
from monitor.web import build_api
from tests.conftest import sample, set_behaviour

OK = "lumenfall/imagen-4.0-generate-001"
HUNG = "lumenfall/imagen-4.0-ultra-generate-001"


@pytest.fixture()
async def running(sim_config: Config, db_url: str) -> AsyncIterator[tuple[Service, str]]:
    service = Service(sim_config, db_url)
    await service.start(schedule=False)
    server = Server(build_api(service), "127.0.0.1", 0)
    await server.start()
    yield service, server.url
    await service.stop()
    await server.stop()


async def test_a_probe_reaches_the_store_the_api_and_metrics(running) -> None:  # type: ignore[no-untyped-def]
    service, url = running
    result = await service.probe_once(OK, Kind.GENERATE)
    assert result.outcome == Outcome.OK
    assert await service.writer.flush()
    async with httpx.AsyncClient(base_url=url) as client:
        [stored] = (await client.get("/api/probes", params={"offering": OK})).json()
        assert stored["probe_id"] == result.probe_id
        assert stored["image"] == {
            "mime": "image/png",
            "width": 1024,
            "height": 1024,
            "bytes": result.image.size_bytes,
        }
        assert set(stored["phases"]) >= {"ttfb", "download", "total"}
        state = {s["offering"]: s for s in (await client.get("/api/state")).json()}
        assert state[OK]["state"] == "up"
        assert state[HUNG]["state"] == "unknown"
        response = await client.get("/metrics")
        # written piece by piece, with its length known up front, the same text as render()
        assert response.headers["content-length"] == str(len(response.content))
        assert response.headers["content-type"] == CONTENT_TYPE
        assert response.content == service.metrics.render()
        metrics = response.text
        labels = {"offering": OK, "kind": "generate"}
        assert sample(metrics, "provmon_probes_total", outcome="ok", **labels) == 1
        assert sample(metrics, "provmon_probe_duration_seconds_count", phase="total", **labels) == 1
        # metrics detail default: a generation's phases per provider (README "Series budget")
        phases = {"provider": "lumenfall", "kind": "generate", "phase": "download"}
        assert sample(metrics, "provmon_probe_phase_duration_seconds_count", **phases) == 1
        assert sample(metrics, "provmon_offering_state", offering=OK, state="up") == 1
        assert sample(metrics, "provmon_offering_state", offering=OK, state="down") == 0
        assert sample(metrics, "provmon_probe_spend_usd_total", offering=OK) == 0.04
        assert (await client.get("/api/probes", params={"offering": "x/y"})).status_code == 404
        assert (await client.get("/readyz")).json() == {"ready": True}


async def test_a_hung_provider_never_delays_another_offerings_probes(
    sim_config: Config, sim_url: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    set_behaviour(sim_url, "openai:imagen-4.0-ultra-generate-001", outage="hang")
    fast = {"interval_seconds": 1, "jitter_seconds": 0}
    off = {"enabled": False, "interval_seconds": 3600}
    data = sim_config.model_dump(mode="json")
    data["defaults"]["control"] = fast
    data["defaults"]["generate"] = off
    data["offerings"] = {k: v for k, v in data["offerings"].items() if k in (OK, HUNG)}
    config = Config.model_validate(data)
    service = Service(config, f"sqlite:///{tmp_path / 'p.db'}")
    service.scheduler.first_run_within = 0.1
    await service.start()
    await asyncio.sleep(5)
    await service.stop(grace=0.5)
    ok_runs = service.store.recent_results(offering=OK)
    hung_runs = service.store.recent_results(offering=HUNG)
    assert len(ok_runs) >= 4, [r.outcome for r in ok_runs]
    assert all(r.outcome == Outcome.OK for r in ok_runs)
    assert all(r.phases["total"] < 0.9 for r in ok_runs)
    assert hung_runs and all(r.outcome == Outcome.TIMEOUT for r in hung_runs)


@pytest.mark.parametrize(("grace", "cancelled"), [(10.0, False), (0.5, True)])
async def test_stop_gives_a_scheduled_probe_in_flight_its_grace(
    sim_config: Config, sim_url: str, tmp_path, grace: float, cancelled: bool
) -> None:  # type: ignore[no-untyped-def]
    """APScheduler's shutdown cancels the jobs it runs; the probe must not go with them:
    it finishes within the grace period, or is stored as cancelled once it passes."""
    set_behaviour(sim_url, "openai:imagen-4.0-generate-001", latency={"ttfb": {"fixed": 2.0}})
    data = sim_config.model_dump(mode="json")
    data["defaults"]["control"] = {"interval_seconds": 3600, "jitter_seconds": 0}
    data["defaults"]["generate"] = {"enabled": False, "interval_seconds": 3600}
    data["offerings"] = {OK: data["offerings"][OK]}
    service = Service(Config.model_validate(data), f"sqlite:///{tmp_path / 'p.db'}")
    service.scheduler.first_run_within = 0.1
    await service.start()
    for _ in range(50):  # the first control probe is on the wire
        if service.runner.in_flight:
            break
        await asyncio.sleep(0.05)
    assert service.runner.in_flight
    await service.stop(grace=grace)
    [stored] = service.store.recent_results(offering=OK)
    assert stored.cancelled is cancelled
    if not cancelled:
        assert stored.outcome == Outcome.OK and stored.phases["ttfb"] >= 2.0
