"""Issue 13's security items against a running service over real sockets: credentials in
URLs never published, nothing parsed before authentication, no poisoning by one passive
batch, an optional token for the API and the status page."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.config import Config
from monitor.servers import free_port
from tests.conftest import wait_for
from tests.test_flows import FAL, LUMENFALL, flow_config, serving, state_of, until
from tests.test_passive import raw_post

PASSIVE_ENV = "PROVMON_HOSTILE_PASSIVE_TOKEN"
PASSIVE = "hostile-passive-token"
API_ENV = "PROVMON_HOSTILE_API_TOKEN"
API = "hostile-api-token"
PROVMON = [sys.executable, "-m", "monitor.cli"]


def with_leaky_url(config: Config) -> Config:
    """A provider URL carrying credentials, as if it got past the config's check (the
    config refuses it: tests/test_config.py); every output must still redact it."""
    lumenfall = config.providers["lumenfall"]
    leaky = lumenfall.base_url.replace("http://", "http://admin:hunter2@") + "?key=sekrit-key-1"
    providers = {**config.providers, "lumenfall": lumenfall.model_copy(update={"base_url": leaky})}
    return config.model_copy(update={"providers": providers})


async def test_routing_exports_never_publish_credentials_in_urls(
    sim_config: Config, tmp_path: Path
) -> None:
    config = with_leaky_url(flow_config(sim_config, offerings=(FAL, LUMENFALL)))
    async with serving(config, f"sqlite:///{tmp_path / 'p.db'}", schedule=False) as (_, api):
        for fmt in ("litellm", "portkey", "openrouter", "json"):
            response = await api.get("/api/routing", params={"format": fmt})
            assert response.status_code == 200
            assert "hunter2" not in response.text and "sekrit-key-1" not in response.text
        litellm = (await api.get("/api/routing", params={"format": "litellm"})).text
        assert "[REDACTED]@" in litellm  # the host stays: the export is still usable


async def test_samples_refuse_before_reading_and_never_500(
    sim_config: Config,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(PASSIVE_ENV, PASSIVE)
    config = flow_config(sim_config, offerings=(FAL,), passive={"token_env": PASSIVE_ENV})
    caplog.set_level(logging.INFO)
    async with serving(config, f"sqlite:///{tmp_path / 'p.db'}", schedule=False) as (_, api):
        url = str(api.base_url).rstrip("/")
        big, prefix = 60 * 1024 * 1024, b'{"samples": [' + b"1" * 4096
        status, body = await asyncio.to_thread(raw_post, url, {}, big, prefix)
        assert status == 401 and len(body) < 200
        auth = {"Authorization": f"Bearer {PASSIVE}"}
        status, body = await asyncio.to_thread(raw_post, url, auth, big, prefix)
        assert status == 413 and len(body) < 200
        for number in ("NaN", "Infinity"):
            at = dt.datetime.now(dt.UTC).isoformat()
            text = (
                f'{{"samples": [{{"offering": "{FAL}", "outcome": "server_error", '
                f'"latency_s": {number}, "at": "{at}"}}]}}'
            )
            response = await api.post(
                "/api/samples", content=text, headers={**auth, "Content-Type": "application/json"}
            )
            assert response.status_code == 422 and number not in response.text
        assert (await state_of(api, FAL))["state"] == "unknown"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def poison(at: dt.datetime, n: int = 1000) -> dict[str, Any]:
    sample = {"offering": FAL, "outcome": "server_error", "latency_s": 1.0, "at": at.isoformat()}
    return {"samples": [sample] * n}


async def generate_probes(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    rows = (await api.get("/api/probes", params={"offering": FAL, "kind": "generate"})).json()
    return list(rows)


async def test_one_poisoning_batch_leaves_the_offering_up_and_brings_a_confirmation(
    sim_config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSIVE_ENV, PASSIVE)
    # regular paid probes an hour apart: a second one soon can only be the confirmation
    config = flow_config(
        sim_config, offerings=(FAL,), generate_every=3600, passive={"token_env": PASSIVE_ENV}
    )
    auth = {"Authorization": f"Bearer {PASSIVE}"}
    async with serving(config, f"sqlite:///{tmp_path / 'p.db'}", schedule=True) as (_, api):
        await until(lambda: generate_probes(api), 30)
        await until(lambda: _is(api, "up"), 30)
        response = await api.post(
            "/api/samples", json=poison(dt.datetime.now(dt.UTC)), headers=auth
        )
        assert response.status_code == 202 and response.json() == {"accepted": 1000}
        state = await state_of(api, FAL)
        assert state["state"] != "down" and state["consecutive_failures"] < 1000
        assert state["passive"]["unconfirmed"] and state["passive"]["failing_minutes"] == 1

        async def confirmed() -> bool:
            return len(await generate_probes(api)) >= 2

        await until(confirmed, 30)
        # the probe answered the claim: up, nothing unconfirmed, no incident
        state = await until(lambda: _is(api, "up"), 10)
        assert not state["passive"]["unconfirmed"]
        assert (await api.get("/api/incidents", params={"offering": FAL})).json() == []


async def _is(api: httpx.AsyncClient, wanted: str) -> dict[str, Any] | None:
    state = await state_of(api, FAL)
    return state if state["state"] == wanted else None


async def test_an_api_token_guards_the_api_and_the_status_page(
    sim_config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(API_ENV, API)
    monkeypatch.setenv(PASSIVE_ENV, PASSIVE)
    config = flow_config(
        sim_config,
        offerings=(FAL,),
        listen={"host": "127.0.0.1", "port": 0, "token_env": API_ENV},
        passive={"token_env": PASSIVE_ENV},
    )
    basic = base64.b64encode(f"me:{API}".encode()).decode()
    async with serving(config, f"sqlite:///{tmp_path / 'p.db'}", schedule=False) as (_, api):
        for path in ("/", "/api/state", "/api/routing", "/api/probes", "/api/docs"):
            assert (await api.get(path)).status_code == 401, path
            wrong = await api.get(path, headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401, path
            right = await api.get(path, headers={"Authorization": f"Bearer {API}"})
            assert right.status_code == 200, path
        browser = await api.get("/", headers={"Authorization": f"Basic {basic}"})
        assert browser.status_code == 200 and "<html" in browser.text.lower()
        # Prometheus and orchestrators stay open; samples keep their own token
        assert (await api.get("/metrics")).status_code == 200
        assert (await api.get("/healthz")).status_code == 200
        samples = await api.post(
            "/api/samples",
            json=poison(dt.datetime.now(dt.UTC), 1),
            headers={"Authorization": f"Bearer {PASSIVE}"},
        )
        assert samples.status_code == 202


async def test_listening_beyond_loopback_without_a_token_is_warned_about(
    sim_config: Config, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from monitor.service import Service
    from monitor.web import build_api

    caplog.set_level(logging.WARNING)
    anywhere = {"host": "0.0.0.0", "port": 0}
    config = flow_config(sim_config, offerings=(FAL,), listen=anywhere)
    service = Service(config, f"sqlite:///{tmp_path / 'p.db'}")
    try:
        build_api(service)
    finally:
        service.store.dispose()
    [warning] = [r for r in caplog.records if "open to anyone" in r.getMessage()]
    assert "PROVMON_API_TOKEN" in warning.getMessage()


@pytest.mark.parametrize(
    ("host", "token", "warned"),
    [("0.0.0.0", "", True), ("0.0.0.0", "t0k3n-sim", False), ("127.0.0.1", "", False)],
)
def test_a_simulator_control_api_beyond_loopback_without_a_token_is_warned_about(
    host: str, token: str, warned: bool
) -> None:
    port = free_port()
    env = {**os.environ, "PROVMON_SIM_TOKEN": token}
    proc = subprocess.Popen(
        [*PROVMON, "simulate", "--host", host, "--port", str(port), "--control"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: _up(f"http://127.0.0.1:{port}"), 30)
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=10)
    assert ("provmon: warning: the simulator's control API" in stderr) is warned
    assert token == "" or token not in stderr


def _up(url: str) -> bool:
    try:
        return httpx.get(url + "/", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize(
    ("url", "kept", "hidden"),
    [
        ("https://admin:hunter2@api.example.test/v1", "https://[REDACTED]@api.example", "hunter2"),
        ("https://h.example/x?model=m&key=s3cr3tk", "model=m&key=[REDACTED]", "s3cr3tk"),
        ("https://h.example/x?X-Goog-Api-Key=s3cr3tk", "?X-Goog-Api-Key=[REDACTED]", "s3cr3tk"),
        ("https://h.example/x?fal_key=s3cr3tk#f", "fal_key=[REDACTED]", "s3cr3tk"),
        ("sqlite:////var/lib/provmon/provmon.db", "sqlite:////var/lib/provmon/provmon.db", "@"),
    ],
)
def test_redact_url_and_log_lines_hide_credentials(
    url: str, kept: str, hidden: str, caplog: pytest.LogCaptureFixture
) -> None:
    from monitor.secrets import ScrubbingFilter, redact_url

    assert kept in redact_url(url) and hidden not in redact_url(url)
    logger = logging.getLogger("provmon.test.redact")
    logger.addFilter(ScrubbingFilter())
    try:
        with caplog.at_level(logging.INFO, logger="provmon.test.redact"):
            logger.info("fetching %s", url)
    finally:
        logger.filters.clear()
    assert hidden not in caplog.text or hidden == "@"
