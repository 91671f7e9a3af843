"""Canary keys: plant a distinctive credential for every provider, run the whole service,
then search every output for them.

Every provider in the catalog gets a random canary key in the environment variable its
config names; the simulator is started with a scenario whose ``keys`` accept exactly those
canaries, so probes succeed (and pricing reads fal's API with ``FAL_KEY``). Two more
providers point at the hostile server's ``echo`` case, which answers 401 with the
credential it received in the error message, in ``X-Request-Id`` and in other headers,
as careless providers and proxies do. Some simulated targets are made to fail.

Searched afterwards: every log record of every logger at every level (tracebacks too),
``/metrics``, every JSON endpoint (routing in every format), the status page, a text dump
of every table of the SQLite database, and the command line (``probe --json``,
``prices refresh``, ``check-config`` of a config with a key pasted as ``credential_env``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import logging
import os
import secrets as pysecrets
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from monitor import secrets
from monitor.catalogs import load_catalog
from monitor.config import Config, parse_config, point_at_simulator
from monitor.exports import FORMATS
from monitor.interfaces import Kind, Outcome
from monitor.servers import Server, ThreadedServer
from monitor.service import Service
from monitor.sim.app import build_app
from monitor.sim.scenario import Scenario
from monitor.web import build_api
from tests.faults.hostile import HostileServer

#: credential variable of each provider as the simulated catalog names it, and its fake
PROVIDER_ENV = {
    "lumenfall": ("LUMENFALL_API_KEY", "openai"),
    "vertex": ("VERTEX_ACCESS_TOKEN", "vertex"),
    "gemini": ("GEMINI_API_KEY", "gemini"),
    "fal": ("FAL_KEY", "fal"),
    "replicate": ("REPLICATE_API_TOKEN", "replicate"),
}
#: providers that echo the credential back: (protocol, environment variable)
ECHOES = {
    "echo-openai": ("lumenfall", "ECHO_OPENAI_KEY"),
    "echo-google": ("gemini", "ECHO_GOOGLE_KEY"),
}
PASSIVE_ENV = "PROVMON_PASSIVE_CANARY"
MODEL = "imagen-4.0-generate-001"


def canary(name: str) -> str:
    return f"cnry-{name}-{pysecrets.token_hex(12)}"


class Canaries:
    def __init__(self) -> None:
        names = [*PROVIDER_ENV, *ECHOES, "passive", "pasted"]
        self.values = {name: canary(name) for name in names}

    def env(self) -> dict[str, str]:
        out = {env: self.values[p] for p, (env, _) in PROVIDER_ENV.items()}
        out |= {env: self.values[p] for p, (_, env) in ECHOES.items()}
        out[PASSIVE_ENV] = self.values["passive"]
        return out

    def needles(self) -> list[str]:
        # the whole key and its random part, so that a partly masked echo is caught too
        return [n for v in self.values.values() for n in (v, v.rsplit("-", 1)[1])]

    def assert_absent(self, where: str, text: str) -> None:
        found = [n for n in self.needles() if n in text]
        assert not found, f"canary {found[0]!r} leaked into {where}"


@pytest.fixture()
def canaries(monkeypatch: pytest.MonkeyPatch) -> Canaries:
    c = Canaries()
    for name, value in c.env().items():
        monkeypatch.setenv(name, value)
    return c


@pytest.fixture()
def canary_sim(canaries: Canaries) -> Iterator[str]:
    """A simulator whose fakes accept only the canaries."""
    keys = {fake: [canaries.values[p]] for p, (_, fake) in PROVIDER_ENV.items()}
    server = ThreadedServer(build_app(Scenario(keys=keys), control_enabled=True))
    server.start()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    server = HostileServer().start()
    yield server
    server.stop()


def canary_config(sim_url: str, hostile_url: str) -> Config:
    """The simulated catalog, two echoing providers, and a fal pricing source that answers
    with the echo (its error must not carry the key either)."""
    data = point_at_simulator(load_catalog("imagen4"), sim_url).model_dump(mode="json")
    for name, (protocol, env) in ECHOES.items():
        data["providers"][name] = {
            "protocol": protocol,
            "base_url": f"{hostile_url}/echo" + ("/v1" if protocol == "lumenfall" else ""),
            "credential_env": env,
        }
        data["offerings"][f"{name}/{MODEL}"] = {
            "provider_model": MODEL,
            "params": {"response_format": "b64_json"} if protocol == "lumenfall" else {},
            "expect": {"width": 1024, "height": 1024},
            "listed_price_usd": "0.04",
        }
    data["pricing_sources"]["fal_echo"] = {
        "kind": "fal_pricing_api",
        "url": f"{hostile_url}/echo/v1/models/pricing",
    }
    data["offerings"][f"fal/{MODEL}"]["pricing_sources"].append("fal_echo")
    data["passive"] = {"token_env": PASSIVE_ENV}
    data["defaults"]["timeout_seconds"] = 20
    return parse_config(data)


@pytest.fixture()
def captured_logs() -> Iterator[tuple[io.StringIO, list[logging.LogRecord]]]:
    """Every record of every logger at DEBUG: formatted through the handler the CLI
    installs (with its scrubbing filter), and the raw records too."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(secrets.ScrubbingFilter())
    raw: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            raw.append(record)

    keep = Keep(logging.DEBUG)
    root = logging.getLogger()
    levels = {
        name: logging.getLogger(name).level for name in ("", "httpx", "httpcore", "apscheduler")
    }
    root.addHandler(keep)  # first: it sees the record before the scrubbing filter edits it
    root.addHandler(handler)
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield stream, raw
    root.removeHandler(handler)
    root.removeHandler(keep)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def _raw_text(record: logging.LogRecord) -> str:
    text = record.getMessage()
    if record.exc_info:
        text += logging.Formatter().formatException(record.exc_info)
    return text


def provmon(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env, "COLUMNS": "200", "PROVMON_LOG_LEVEL": "DEBUG"},
        timeout=120,
        check=False,
    )


async def test_no_canary_key_reaches_any_output(
    canaries: Canaries,
    canary_sim: str,
    hostile: HostileServer,
    captured_logs: tuple[io.StringIO, list[logging.LogRecord]],
    tmp_path: Path,
) -> None:
    config = canary_config(canary_sim, hostile.url)
    db = tmp_path / "canary.db"
    service = Service(config, f"sqlite:///{db}")
    await service.start(schedule=False)
    server = Server(build_api(service), "127.0.0.1", 0)
    await server.start()
    async with httpx.AsyncClient(base_url=canary_sim) as sim:
        for target, behaviour in (
            ("openai:imagen-4.0-ultra-generate-001", {"outage": "error"}),
            ("replicate:google/imagen-4-ultra", {"error_ratio": 1.0}),
            ("gemini:imagen-4.0-fast-generate-001", {"rate_limit_ratio": 1.0}),
        ):
            (
                await sim.post("/_sim/behaviour", json={"target": target, **behaviour})
            ).raise_for_status()
    try:
        # every offering with both kinds; then again, so that the health book moves
        offerings = config.enabled_offerings()
        for _ in range(2):
            results = await asyncio.gather(
                *(service.probe_once(o, k) for o in offerings for k in Kind)
            )
        done = [r for r in results if r is not None]
        assert len(done) == 2 * len(offerings), "no probe was skipped"
        by = {(r.offering, r.kind): r.outcome for r in done}
        assert by[(f"lumenfall/{MODEL}", Kind.GENERATE)] == Outcome.OK
        assert by[(f"fal/{MODEL}", Kind.GENERATE)] == Outcome.OK
        assert by[(f"vertex/{MODEL}", Kind.CONTROL)] == Outcome.OK
        assert (
            by[("lumenfall/imagen-4.0-ultra-generate-001", Kind.GENERATE)] == Outcome.SERVER_ERROR
        )
        for name in ECHOES:
            assert by[(f"{name}/{MODEL}", Kind.CONTROL)] == Outcome.AUTH_ERROR
        reports = await service.prices.refresh_all()
        by_source = {r.source: r for r in reports}
        assert by_source["fal_pricing_api"].ok, by_source["fal_pricing_api"].failures
        assert not by_source["fal_echo"].ok
        service.evaluate_routes()
        assert await service.writer.flush()

        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            now = dt.datetime.now(dt.UTC).isoformat()
            batch = {"samples": [{"offering": f"fal/{MODEL}", "outcome": "ok", "at": now}]}
            passive = [
                await client.post(
                    "/api/samples",
                    json=batch,
                    headers={"Authorization": f"Bearer {canaries.values['passive']}{suffix}"},
                )
                for suffix in ("", "x")
            ]
            assert [p.status_code for p in passive] == [202, 401]
            paths = [
                "/",
                "/metrics",
                "/healthz",
                "/readyz",
                "/api/offerings",
                "/api/probes?limit=1000",
                "/api/state",
                "/api/prices",
                "/api/incidents",
                "/api/budget",
                "/openapi.json",
                *(f"/api/routing?format={fmt}" for fmt in FORMATS),
                *(f"/api/routing?policy={p}" for p in ("cost", "latency", "balanced")),
            ]
            outputs = {p: await client.get(p) for p in paths}
        for path, response in outputs.items():
            assert response.status_code == 200, (path, response.status_code)
            canaries.assert_absent(path, response.text)
            canaries.assert_absent(f"{path} headers", str(response.headers))
        for response in passive:
            canaries.assert_absent("/api/samples", response.text + str(response.headers))
        # the echoed key did reach provmon: it is there, scrubbed
        probes = outputs["/api/probes?limit=1000"].json()
        echoed = [p for p in probes if p["offering"].startswith("echo-")]
        assert echoed and all(p["outcome"] == "auth_error" for p in echoed)
        assert any("[REDACTED]" in (p["error"] or "") for p in echoed)
    finally:
        await service.stop()
        await server.stop()

    stream, raw = captured_logs
    assert raw, "logging was captured"
    canaries.assert_absent("the log output", stream.getvalue())
    for record in raw:
        canaries.assert_absent(f"a log record of {record.name}", _raw_text(record))

    with sqlite3.connect(db) as conn:
        dump = "\n".join(conn.iterdump())
    assert "probe_results" in dump and "price_quotes" in dump
    canaries.assert_absent("the database", dump)


def test_no_canary_key_reaches_the_command_line(
    canaries: Canaries, canary_sim: str, hostile: HostileServer, tmp_path: Path
) -> None:
    config = canary_config(canary_sim, hostile.url)
    path = tmp_path / "provmon.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")), encoding="utf-8")
    env = {**canaries.env(), "PROVMON_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    runs: dict[str, subprocess.CompletedProcess[str]] = {}
    for offering, kind in (
        (f"echo-openai/{MODEL}", "control"),
        (f"echo-google/{MODEL}", "generate"),
        (f"fal/{MODEL}", "generate"),
    ):
        runs[f"probe {offering} {kind}"] = provmon(
            "probe", offering, "--kind", kind, "--json", "--config", str(path), env=env
        )
    runs["prices refresh"] = provmon("prices", "refresh", "--config", str(path), env=env)
    runs["prices show"] = provmon("prices", "show", "--json", "--config", str(path), env=env)
    # a key pasted where the variable's name belongs
    pasted: dict[str, Any] = yaml.safe_load(path.read_text())
    pasted["providers"]["fal"]["credential_env"] = canaries.values["pasted"]
    bad = tmp_path / "pasted.yaml"
    bad.write_text(yaml.safe_dump(pasted), encoding="utf-8")
    runs["check-config pasted"] = provmon("check-config", str(bad), env=env)
    runs["run pasted"] = provmon("run", "--config", str(bad), env=env)

    assert runs[f"probe echo-openai/{MODEL} control"].returncode == 1
    assert '"auth_error"' in runs[f"probe echo-openai/{MODEL} control"].stdout
    assert runs[f"probe fal/{MODEL} generate"].returncode == 0
    assert runs["prices refresh"].returncode == 1  # fal_echo fails; the others are read
    assert runs["check-config pasted"].returncode == 2
    assert "providers.fal.credential_env" in runs["check-config pasted"].stderr
    for name, proc in runs.items():
        canaries.assert_absent(f"`provmon {name}` stdout", proc.stdout)
        canaries.assert_absent(f"`provmon {name}` stderr", proc.stderr)
