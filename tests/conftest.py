"""Shared fixtures: the simulator on a real loopback socket, configs aimed at it, stores."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from monitor.config import Config, load_config, point_at_simulator, simulator_credentials
from monitor.servers import ThreadedServer
from monitor.sim.app import build_app

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def sim() -> Iterator[ThreadedServer]:
    """The simulator with control enabled, on its own thread and port."""
    server = ThreadedServer(build_app(control_enabled=True), "127.0.0.1", 0)
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def sim_url(sim: ThreadedServer) -> Iterator[str]:
    """The simulator's URL; every test starts and ends with its overrides cleared."""
    httpx.delete(f"{sim.url}/_sim/behaviour")
    yield sim.url
    httpx.delete(f"{sim.url}/_sim/behaviour")


def set_behaviour(sim_url: str, target: str, **behaviour: Any) -> None:
    """Override the simulator's behaviour for a target pattern (``provider:model``)."""
    response = httpx.post(f"{sim_url}/_sim/behaviour", json={"target": target, **behaviour})
    response.raise_for_status()


@pytest.fixture()
def sim_config(sim_url: str, monkeypatch: pytest.MonkeyPatch) -> Config:
    """The default catalog aimed at the simulator, with its fake credentials set."""
    base = load_config(None)
    for name, value in simulator_credentials(base).items():
        monkeypatch.setenv(name, value)
    return point_at_simulator(base, sim_url)


def postgres_url() -> str | None:
    """The test PostgreSQL server; missing is a skip locally and a failure under CI=true."""
    url = os.environ.get("PROVMON_TEST_DATABASE_URL")
    if not url:
        if IN_CI:
            pytest.fail("PROVMON_TEST_DATABASE_URL is not set under CI=true (.ci/run starts it)")
        pytest.skip("no PostgreSQL: set PROVMON_TEST_DATABASE_URL or install the server")
    return url


def fresh_postgres_schema(url: str) -> str:
    """A URL whose connections use a new, empty schema of their own."""
    import uuid

    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """One test, run against SQLite and against a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'provmon.db'}"
    url = postgres_url()
    assert url is not None
    return fresh_postgres_schema(url)


@pytest.fixture()
def store(db_url: str) -> Iterator[Any]:
    from monitor.store import Store

    s = Store(db_url)
    s.upgrade()
    yield s
    s.dispose()
