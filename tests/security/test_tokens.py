"""Mutating endpoints require a token: the simulator's control API as `provmon simulate`
serves it, and passive samples as the service's API (built from a config) serves them.
(tests/test_passive.py checks the samples router itself; this checks the wiring.)"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monitor.config import Config
from monitor.servers import Server, free_port
from monitor.service import Service
from monitor.web import build_api
from tests.faults.test_sigkill import wait_for

MUTATIONS = [
    ("POST", "/_sim/behaviour", {"target": "openai:*", "outage": "error"}),
    ("DELETE", "/_sim/behaviour", None),
    ("PUT", "/_sim/scenario", {"seed": 3}),
    ("POST", "/_sim/price", {"source": "fal_page", "offering": "fal/x", "amount": "9"}),
    ("POST", "/_sim/page", {"source": "fal_page", "mode": "empty"}),
]


def _up(url: str) -> bool:
    try:
        return httpx.get(url + "/", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture()
def simulate() -> Iterator[object]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(*args: str, token: str | None = None) -> str:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "PROVMON_SIM_TOKEN"}
        if token:
            env["PROVMON_SIM_TOKEN"] = token
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "monitor.cli", "simulate", "--port", str(port), *args],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _up(url), 30)
        return url

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def send(url: str, method: str, path: str, body: object, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, url + path, json=body, headers=headers, timeout=10).status_code


def test_simulate_without_control_has_no_control_api(simulate) -> None:  # type: ignore[no-untyped-def]
    url = simulate()
    for method, path, body in MUTATIONS:
        assert send(url, method, path, body) == 404, (method, path)
    assert httpx.get(url + "/_sim/stats").status_code == 404


def test_simulate_with_a_token_refuses_calls_without_it(simulate) -> None:  # type: ignore[no-untyped-def]
    url = simulate(token="sim-control-token-123")
    for method, path, body in MUTATIONS:
        assert send(url, method, path, body) == 401, (method, path)
        assert send(url, method, path, body, token="wrong") == 401, (method, path)
        assert send(url, method, path, body, token="sim-control-token-123") in (200, 202)
    # the outage set with the token took effect; without a token nothing could set one
    assert httpx.get(url + "/_sim/stats", headers={"Authorization": "Bearer x"}).status_code == 401


async def test_api_samples_is_off_without_a_token_and_demands_it_with_one(
    sim_config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = {
        "offering": "fal/imagen-4.0-generate-001",
        "outcome": "server_error",
        "at": dt.datetime.now(dt.UTC).isoformat(),
    }
    body = {"samples": [sample]}
    monkeypatch.setenv("PROVMON_TEST_PASSIVE_TOKEN", "passive-token-456")
    codes: dict[str, int] = {}
    for name, passive in (("off", {}), ("on", {"token_env": "PROVMON_TEST_PASSIVE_TOKEN"})):
        config = Config.model_validate({**sim_config.model_dump(mode="json"), "passive": passive})
        service = Service(config, f"sqlite:///{tmp_path / name}.db")
        server = Server(build_api(service), "127.0.0.1", 0)
        await server.start()
        try:
            async with httpx.AsyncClient(base_url=server.url) as client:
                for who, header in (
                    ("none", {}),
                    ("wrong", {"Authorization": "Bearer passive-token-45"}),
                    ("basic", {"Authorization": "Basic passive-token-456"}),
                    ("right", {"Authorization": "Bearer passive-token-456"}),
                ):
                    response = await client.post("/api/samples", json=body, headers=header)
                    codes[f"{name}:{who}"] = response.status_code
        finally:
            await server.stop()
            service.store.dispose()
    assert codes == {
        "off:none": 503,
        "off:wrong": 503,
        "off:basic": 503,
        "off:right": 503,
        "on:none": 401,
        "on:wrong": 401,
        "on:basic": 401,
        "on:right": 202,
    }
