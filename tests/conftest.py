"""Shared fixtures: the simulator on a real loopback socket, configs aimed at it, stores."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.catalogs import load_catalog
from monitor.config import Config, point_at_simulator, simulator_credentials
from monitor.servers import ThreadedServer, free_port
from monitor.sim.app import build_app

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@contextlib.contextmanager
def simulator_process(scenario: Path | None = None) -> Iterator[str]:
    """``provmon simulate`` in its own process (as a real provider is), its base URL once
    it answers; terminated on exit."""
    port = free_port()
    args = [sys.executable, "-m", "monitor.cli", "simulate", "--port", str(port)]
    if scenario is not None:
        args += ["--scenario", str(scenario)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def sim() -> Iterator[ThreadedServer]:
    """The simulator with control enabled, on its own thread and port."""
    server = ThreadedServer(build_app(control_enabled=True), "127.0.0.1", 0)
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def sim_url(sim: ThreadedServer) -> Iterator[str]:
    """The simulator's URL; every test starts and ends with its overrides and mappings cleared."""
    for clear in ("behaviour", "mappings"):
        httpx.delete(f"{sim.url}/_sim/{clear}")
    yield sim.url
    for clear in ("behaviour", "mappings"):
        httpx.delete(f"{sim.url}/_sim/{clear}")


def set_behaviour(sim_url: str, target: str, **behaviour: Any) -> None:
    """Override the simulator's behaviour for a target pattern (``provider:model``)."""
    response = httpx.post(f"{sim_url}/_sim/behaviour", json={"target": target, **behaviour})
    response.raise_for_status()


@pytest.fixture()
def sim_config(sim_url: str, monkeypatch: pytest.MonkeyPatch) -> Config:
    """The default catalog aimed at the simulator, with its fake credentials set."""
    base = load_catalog("imagen4")
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
    from bench._common import fresh_schema

    return fresh_schema(url, "t")


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


# -- the demo as a subprocess ---------------------------------------------------------


def wait_for(predicate, timeout: float, interval: float = 0.5):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one series in a Prometheus text exposition (0 when absent)."""
    total = 0.0
    for line in metrics.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture()
def demo(tmp_path: Path) -> Iterator[tuple[str, str, subprocess.Popen[str]]]:
    port, sim_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "monitor.cli",
            "demo",
            "--for",
            "240",
            "--port",
            str(port),
            "--sim-port",
            str(sim_port),
            "--data-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _get(url + "/healthz"), 30, 0.2)
        yield url, f"http://127.0.0.1:{sim_port}", proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _get(url: str) -> str | None:
    try:
        response = httpx.get(url, timeout=5)
    except httpx.HTTPError:
        return None
    return response.text if response.status_code == 200 else None
