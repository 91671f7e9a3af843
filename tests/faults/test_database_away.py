"""PostgreSQL stopped under a running service: what needs the database answers 503 with a
one-line reason, what memory can serve answers 200 and says the database is away, an
incident opened meanwhile is stored once it returns, and what the writer gives up on is
counted in ``provmon_results_dropped_total``."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from monitor.config import Config
from monitor.health import State
from monitor.servers import Server, free_port
from monitor.service import Service
from monitor.web import DATABASE_HEADER, build_api
from tests.conftest import IN_CI, fresh_postgres_schema, postgres_url, set_behaviour

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pg-test.sh"
FAILING = "lumenfall/imagen-4.0-ultra-generate-001"
OK = "lumenfall/imagen-4.0-generate-001"


class Cluster:
    """A PostgreSQL cluster of the test's own, on a free port, which it stops and starts."""

    def __init__(self) -> None:
        self.env = {**os.environ, "PROVMON_PG_PORT": str(free_port())}

    def __call__(self, action: str) -> str:
        return subprocess.run(
            [str(SCRIPT), action],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout.strip()


@pytest.fixture()
def cluster() -> Iterator[tuple[Cluster, str]]:
    postgres_url()  # skip locally / fail under CI when there is no server at all
    pg = Cluster()
    try:
        url = pg("start")
    except (subprocess.CalledProcessError, OSError) as exc:
        if IN_CI:
            raise
        pytest.skip(f"cannot start a private PostgreSQL: {exc}")
    try:
        yield pg, fresh_postgres_schema(url)
    finally:
        pg("stop")


@pytest.fixture()
async def running(
    sim_config: Config, cluster: tuple[Cluster, str]
) -> AsyncIterator[tuple[Service, httpx.AsyncClient, Cluster]]:
    """The service (control probes every second, no paid ones) over a real socket."""
    pg, url = cluster
    data = sim_config.model_dump(mode="json")
    data["defaults"]["control"] = {"interval_seconds": 1, "jitter_seconds": 0}
    data["defaults"]["generate"] = {"interval_seconds": 3600, "enabled": False}
    data["offerings"] = {k: v for k, v in data["offerings"].items() if k in (OK, FAILING)}
    service = Service(Config.model_validate(data), url)
    service.scheduler.first_run_within = 0.1
    await service.start()
    server = Server(build_api(service), "127.0.0.1", 0)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            yield service, client, pg
    finally:
        await service.stop(grace=1)
        await server.stop()


def unlabelled(metrics: str, name: str) -> float:
    """The value of a series without labels in a text exposition."""
    values = [float(line.split()[1]) for line in metrics.splitlines() if line.split(" ")[0] == name]
    assert len(values) == 1, (name, values)
    return values[0]


async def _until(check, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.2)


async def test_without_the_database_reads_answer_503_and_memory_answers_200(
    running: tuple[Service, httpx.AsyncClient, Cluster],
) -> None:
    service, client, pg = running
    await _until(lambda: service.writer.written >= 2)
    assert (await client.get("/api/probes")).status_code == 200
    await asyncio.to_thread(pg, "stop")
    await _until(lambda: service.writer.failing)

    for path in ("/api/probes", "/api/incidents", "/api/prices"):
        answer = await client.get(path)
        assert answer.status_code == 503, (path, answer.text)
        reason = answer.json()["detail"]
        assert "unavailable" in reason and "\n" not in reason, reason

    page = await client.get("/")
    assert page.status_code == 200
    assert 'data-database="away"' in page.text
    state = await client.get("/api/state")
    assert state.status_code == 200
    assert state.headers[DATABASE_HEADER] == "away"
    assert {row["offering"] for row in state.json()} == {OK, FAILING}
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert unlabelled(metrics.text, "provmon_database_up") == 0

    await asyncio.to_thread(pg, "start")
    assert await service.writer.flush(timeout=60)
    assert (await client.get("/api/probes")).status_code == 200
    page = await client.get("/")
    assert 'data-database="away"' not in page.text
    assert DATABASE_HEADER not in (await client.get("/api/state")).headers
    assert unlabelled((await client.get("/metrics")).text, "provmon_database_up") == 1


async def test_an_incident_opened_while_the_database_is_away_is_stored_when_it_returns(
    running: tuple[Service, httpx.AsyncClient, Cluster], sim_url: str
) -> None:
    service, client, pg = running
    await _until(lambda: service.state_of(OK).state == State.UP)
    await asyncio.to_thread(pg, "stop")
    await _until(lambda: service.writer.failing)
    set_behaviour(sim_url, "openai:imagen-4.0-ultra-generate-001", outage="error")
    await _until(lambda: service.state_of(FAILING).state == State.DOWN)

    await asyncio.to_thread(pg, "start")
    assert await service.writer.flush(timeout=60)
    answer = await client.get("/api/incidents", params={"offering": FAILING, "open": True})
    assert answer.status_code == 200
    assert [row["state"] for row in answer.json()] == ["down"], answer.json()
    assert (await client.get("/api/incidents", params={"offering": OK})).json() == []


async def test_what_the_writer_gives_up_on_is_counted(
    running: tuple[Service, httpx.AsyncClient, Cluster],
) -> None:
    service, client, pg = running
    await _until(lambda: service.writer.written >= 2)
    before = unlabelled((await client.get("/metrics")).text, "provmon_results_dropped_total")
    assert before == 0
    service.writer.max_buffer = 3  # a small buffer, so the outage overflows it
    await asyncio.to_thread(pg, "stop")
    await _until(lambda: service.writer.dropped >= 4)

    metrics = (await client.get("/metrics")).text
    dropped = unlabelled(metrics, "provmon_results_dropped_total")
    assert dropped >= 4
    # nothing dropped is ever stored, and the counter is what the writer dropped
    await asyncio.to_thread(pg, "start")
    assert await service.writer.flush(timeout=60)
    metrics = (await client.get("/metrics")).text
    assert unlabelled(metrics, "provmon_results_dropped_total") == service.writer.dropped
    produced = service.writer.written + service.writer.dropped
    assert service.store.count_results() == service.writer.written
    assert produced > service.writer.written
