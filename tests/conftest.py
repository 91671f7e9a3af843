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
