"""Probes on the asyncio network backend, end to end against the simulator: plain HTTP and
TLS (verified against a test authority), connection reuse and the phase timings."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monitor import http
from monitor.catalogs import load_catalog
from monitor.cli_serve import new_loop
from monitor.config import Config, ScheduleConfig, point_at_simulator, simulator_credentials
from monitor.http import BACKEND_ENV
from monitor.interfaces import Kind, Outcome, Phase
from monitor.runner import Runner
from tests.test_netbackend import failure, hang, peer, reset_mid_body
from tests.tls_support import Certificates, make_certificates, tls_simulator

OFFERING = "lumenfall/imagen-4.0-generate-001"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_url(certs: Certificates) -> Iterator[str]:
    with tls_simulator(certs) as url:
        yield url


def aimed_at(url: str, monkeypatch: pytest.MonkeyPatch) -> Config:
    base = load_catalog("imagen4")
    for name, value in simulator_credentials(base).items():
        monkeypatch.setenv(name, value)
    return point_at_simulator(base, url)


async def probes(config: Config, *kinds: Kind) -> list:  # type: ignore[type-arg]
    runner = Runner(config)
    try:
        return [await runner.run_probe(OFFERING, kind) for kind in kinds]
    finally:
        await runner.aclose()


@pytest.mark.parametrize("backend", ["asyncio", "anyio"])
async def test_control_probes_reuse_their_connection_and_time_connect_once(
    sim_config: Config, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    monkeypatch.setenv(BACKEND_ENV, backend)
    first, second, third = await probes(sim_config, Kind.CONTROL, Kind.CONTROL, Kind.CONTROL)
    assert [r.outcome for r in (first, second, third)] == [Outcome.OK] * 3, first.error
    assert 0 < first.phases[Phase.CONNECT] < first.phases[Phase.TTFB] + 1
    # kept alive: the later probes found the connection open
    assert Phase.CONNECT not in second.phases and Phase.CONNECT not in third.phases
    for result in (first, second, third):
        assert 0 < result.phases[Phase.TTFB] <= result.phases[Phase.TOTAL]


async def test_a_generate_probe_over_the_asyncio_backend_downloads_and_checks_its_image(
    sim_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    (result,) = await probes(sim_config, Kind.GENERATE)
    assert result.outcome == Outcome.OK, result.error
    assert result.image is not None and result.image.width > 0


async def test_probes_over_tls_verify_the_certificate_and_time_the_handshake(
    tls_url: str, certs: Certificates, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    monkeypatch.setattr(http, "_tls_context", certs.client_context)
    config = aimed_at(tls_url, monkeypatch)
    first, second, generated = await probes(config, Kind.CONTROL, Kind.CONTROL, Kind.GENERATE)
    assert [r.outcome for r in (first, second, generated)] == [Outcome.OK] * 3, (
        first.error or generated.error
    )
    # TCP and the TLS handshake, once: the later probes reuse the TLS connection
    assert 0 < first.phases[Phase.CONNECT] < 5
    assert Phase.CONNECT not in second.phases
    assert 0 < second.phases[Phase.TTFB] <= second.phases[Phase.TOTAL]


@pytest.mark.parametrize("backend", ["asyncio", "anyio"])
async def test_a_certificate_from_an_unknown_authority_is_a_connect_error(
    tls_url: str, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    monkeypatch.setenv(BACKEND_ENV, backend)
    (result,) = await probes(aimed_at(tls_url, monkeypatch), Kind.CONTROL)
    assert result.outcome == Outcome.CONNECT_ERROR
    assert "CERTIFICATE_VERIFY_FAILED" in (result.error or "")


async def test_a_certificate_for_another_host_is_a_connect_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = make_certificates(tmp_path, hosts=("provider.example",))
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    monkeypatch.setattr(http, "_tls_context", other.client_context)
    with tls_simulator(other) as url:
        (result,) = await probes(aimed_at(url, monkeypatch), Kind.CONTROL)
    assert result.outcome == Outcome.CONNECT_ERROR
    assert "CERTIFICATE_VERIFY_FAILED" in (result.error or "")


def test_a_mistyped_backend_stops_the_runner_at_start(
    sim_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(BACKEND_ENV, "asyncoi")
    with pytest.raises(ValueError, match="PROVMON_HTTP_BACKEND must be one of asyncio, anyio"):
        Runner(sim_config)


def test_tls_and_timeouts_hold_on_uvloop_the_service_loop(
    tls_url: str, certs: Certificates, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``provmon run`` serves on uvloop (``monitor/cli_serve.py``): its transports are not
    asyncio's classes, and its ``start_tls`` is its own."""
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    monkeypatch.setattr(http, "_tls_context", certs.client_context)
    config = aimed_at(tls_url, monkeypatch)

    async def on_uvloop() -> list:  # type: ignore[type-arg]
        found = await probes(config, Kind.CONTROL, Kind.CONTROL, Kind.GENERATE)
        async with peer(hang) as url:
            found.append(await failure(f"{url}/v1/models/m"))
        async with peer(reset_mid_body) as url:
            found.append(await failure(f"{url}/v1/models/m"))
        return found

    with asyncio.Runner(loop_factory=new_loop) as runner:
        assert "uvloop" in type(runner.get_loop()).__module__
        first, second, generated, hung, reset = runner.run(on_uvloop())
    assert [r.outcome for r in (first, second, generated)] == [Outcome.OK] * 3, first.error
    assert first.phases[Phase.CONNECT] > 0 and Phase.CONNECT not in second.phases
    assert (type(hung), type(reset)) == (httpx.ReadTimeout, httpx.ReadError)


async def test_an_offerings_connection_outlives_its_control_interval(
    sim_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    runner = Runner(sim_config)
    control = sim_config.defaults.control
    try:
        kept = runner.keepalive_seconds(OFFERING)
        assert kept > control.interval_seconds + control.jitter_seconds
        client = runner.client_for(OFFERING)
        assert client.probe_transport._pool._keepalive_expiry == kept  # type: ignore[attr-defined]
    finally:
        await runner.aclose()
    for interval, jitter, expected in ((3600, 60, 120), (5, 0, 30), (60, 3, 68)):
        control = ScheduleConfig(interval_seconds=interval, jitter_seconds=jitter)
        defaults = sim_config.defaults.model_copy(update={"control": control})
        config = sim_config.model_copy(update={"defaults": defaults})
        assert Runner(config).keepalive_seconds(OFFERING) == expected
