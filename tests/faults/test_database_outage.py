"""The database away for 60 seconds: probes keep their schedule, no result is lost."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monitor.config import Config
from monitor.interfaces import Outcome
from monitor.servers import Server
from monitor.service import Service
from monitor.web import build_api
from tests.conftest import IN_CI, fresh_postgres_schema, postgres_url

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pg-test.sh"
PORT = "55439"


def pg(action: str) -> str:
    env = {**os.environ, "PROVMON_PG_PORT": PORT}
    return subprocess.run(
        [str(SCRIPT), action], env=env, capture_output=True, text=True, check=True, timeout=120
    ).stdout.strip()


@pytest.fixture()
def own_postgres() -> Iterator[str]:
    """A PostgreSQL cluster of this test's own, which it may stop and start."""
    postgres_url()  # skip locally / fail under CI when there is no server at all
    try:
        url = pg("start")
    except (subprocess.CalledProcessError, OSError) as exc:
        if IN_CI:
            raise
        pytest.skip(f"cannot start a private PostgreSQL: {exc}")
    yield fresh_postgres_schema(url)
    pg("stop")


async def test_results_are_buffered_through_a_60s_outage_and_all_stored(
    sim_config: Config, own_postgres: str
) -> None:
    data = sim_config.model_dump(mode="json")
    data["defaults"]["control"] = {"interval_seconds": 1, "jitter_seconds": 0}
    data["defaults"]["generate"] = {"interval_seconds": 3600, "enabled": False}
    config = Config.model_validate(data)
    service = Service(config, own_postgres)
    service.scheduler.first_run_within = 0.1
    await service.start()
    server = Server(build_api(service), "127.0.0.1", 0)
    await server.start()
    try:
        await asyncio.sleep(3)
        await asyncio.to_thread(pg, "stop")
        outage_started = len(service.runner.config.enabled_offerings())
        await asyncio.sleep(5)
        async with httpx.AsyncClient() as client:
            ready = await client.get(server.url + "/readyz")
        assert ready.status_code == 503
        assert service.writer.failing
        await asyncio.sleep(55)
        buffered = len(service.writer.buffer)
        assert buffered >= 50 * outage_started, "probes kept their schedule during the outage"
        await asyncio.to_thread(pg, "start")
        assert await service.writer.flush(timeout=60)
    finally:
        await service.stop()
        await server.stop()
    delivered = service.writer.written
    assert service.writer.dropped == 0
    assert service.store.count_results() == delivered
    states = {r.outcome for r in service.store.recent_results(limit=1000)}
    assert states == {Outcome.OK}
