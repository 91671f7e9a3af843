"""SIGKILL in the middle of a probe and of a price refresh: ``provmon run`` as a real
process on a file SQLite, killed with ``kill -9``, then started again.

After the kill the database must pass ``PRAGMA integrity_check``, every stored result and
price row must be complete, the paid probe in flight must still count against the budget
(its reservation stays ``reserved`` until it expires as spent, never released), and the
restarted process must come up on the same file and carry on.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from monitor.config import Config
from monitor.interfaces import Outcome
from monitor.servers import free_port
from tests.conftest import set_behaviour
from tests.faults import hostile
from tests.faults.hostile import HostileServer

LUMENFALL = [f"lumenfall/imagen-4.0-{t}generate-001" for t in ("fast-", "", "ultra-")]


@pytest.fixture(scope="module")
def hostile_server() -> Iterator[HostileServer]:
    server = HostileServer().start()
    yield server
    server.stop()


def agent_config(sim_config: Config, *, port: int, **extra: Any) -> dict[str, Any]:
    """The simulated catalog cut to Lumenfall's three offerings, probing fast."""
    data = sim_config.model_dump(mode="json")
    data["providers"] = {"lumenfall": data["providers"]["lumenfall"]}
    data["offerings"] = {k: data["offerings"][k] for k in LUMENFALL}
    for offering in data["offerings"].values():
        offering["pricing_sources"] = []
    data["pricing_sources"] = {}
    data["lifecycle_sources"] = {}  # they name the providers cut here
    data["listen"] = {"host": "127.0.0.1", "port": port}
    data["defaults"]["control"] = {"interval_seconds": 1, "jitter_seconds": 0}
    # the deadline is capped at 90 % of the interval: 20 s leaves a long hang to kill in
    data["defaults"]["generate"] = {"interval_seconds": 20, "jitter_seconds": 0}
    data["budget"] = {"daily_usd": "10", "offering_daily_usd": "1"}
    data.update(extra)
    return data


class Agent:
    """``provmon run`` on a config file and a SQLite file, as a subprocess of the test."""

    def __init__(self, folder: Path, config: dict[str, Any]) -> None:
        self.config_path = folder / "provmon.yaml"
        self.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        self.db = folder / "provmon.db"
        self.url = f"http://127.0.0.1:{config['listen']['port']}"
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        env = {**os.environ, "PROVMON_DATABASE_URL": f"sqlite:///{self.db}"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor.cli", "run", "--config", str(self.config_path)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(lambda: _ready(self.url), 30)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(timeout=10) == -signal.SIGKILL

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10) as conn:
            return conn.execute(sql).fetchall()


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for(predicate: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s")


def assert_consistent(agent: Agent) -> None:
    assert agent.query("PRAGMA integrity_check") == [("ok",)]
    outcomes = {o.value for o in Outcome}
    for row in agent.query(
        "SELECT probe_id, offering, kind, outcome, started_at, total_s FROM probe_results"
    ):
        probe_id, offering, kind, outcome, started_at, total_s = row
        assert probe_id and offering in LUMENFALL and kind in ("control", "generate"), row
        assert outcome in outcomes and started_at is not None and total_s is not None, row


def stats(sim_url: str) -> dict[str, int]:
    return dict(httpx.get(f"{sim_url}/_sim/stats").json())


def test_sigkill_during_a_paid_probe_keeps_the_database_and_the_budget_whole(
    sim_config: Config, sim_url: str, tmp_path: Path
) -> None:
    # control keeps answering; every generate request hangs until the client gives up
    set_behaviour(sim_url, "openai:*", outage="hang", generation_only=True)
    agent = Agent(tmp_path, agent_config(sim_config, port=free_port()))
    hung_before = sum(v for k, v in stats(sim_url).items() if k.endswith(":generate"))
    agent.start()
    try:
        wait_for(lambda: agent.query("SELECT count(*) FROM probe_results")[0][0] >= 6, 30)
        wait_for(
            lambda: (
                sum(v for k, v in stats(sim_url).items() if k.endswith(":generate")) > hung_before
            ),
            30,
        )
        wait_for(
            lambda: agent.query("SELECT count(*) FROM probe_spend WHERE state = 'reserved'")[0][0],
            10,
        )
    finally:
        agent.kill9()
    stored = agent.query("SELECT count(*) FROM probe_results")[0][0]
    assert_consistent(agent)
    reserved = agent.query(
        "SELECT reservation_id, offering, amount_micro_usd, day FROM probe_spend"
        " WHERE state = 'reserved'"
    )
    assert reserved, "the paid probe in flight left its reservation"

    # restart on the same file: it comes up, probes on, and the reservation still counts
    httpx.delete(f"{sim_url}/_sim/behaviour")
    agent.start()
    try:
        wait_for(lambda: agent.query("SELECT count(*) FROM probe_results")[0][0] > stored, 30)
        budget = httpx.get(agent.url + "/api/budget").json()
    finally:
        assert agent.stop() == 0
    assert_consistent(agent)
    for reservation_id, offering, amount, _day in reserved:
        [(state,)] = agent.query(
            f"SELECT state FROM probe_spend WHERE reservation_id = '{reservation_id}'"
        )
        assert state in ("reserved", "settled"), "a killed probe may have been billed"
        scope = next(row for row in budget if row["scope"] == offering)
        assert Decimal(scope["spent_usd"]) >= Decimal(amount) / 1_000_000


def test_sigkill_during_a_price_refresh_leaves_no_partial_price_rows(
    sim_config: Config, sim_url: str, hostile_server: HostileServer, tmp_path: Path
) -> None:
    """One source reads the simulated Lumenfall pages; another's page hangs (the hostile
    server: simulated pages have no hang mode). The kill lands while that fetch hangs."""
    sources = {
        "lumenfall_llms": {
            **sim_config.pricing_sources["lumenfall_llms"].model_dump(mode="json"),
            "interval_seconds": 2,
        },
        "stuck_litellm": {
            "kind": "litellm_json",
            "url": f"{hostile_server.url}/hang/prices.json",
            "interval_seconds": 2,
        },
    }
    data = agent_config(sim_config, port=free_port(), pricing_sources=sources)
    data["defaults"]["generate"] = {"interval_seconds": 3600, "enabled": False}
    for offering in data["offerings"].values():
        offering["pricing_sources"] = ["lumenfall_llms", "stuck_litellm"]
    agent = Agent(tmp_path, data)
    hangs = hostile.hits["hang"]
    agent.start()
    try:
        wait_for(lambda: agent.query("SELECT count(*) FROM price_quotes")[0][0] >= 3, 30)
        wait_for(lambda: hostile.hits["hang"] > hangs, 30)
        time.sleep(0.3)
    finally:
        agent.kill9()
    assert_consistent(agent)
    rows = agent.query(
        "SELECT offering, source, amount, currency, unit, observed_at, content_hash, status"
        " FROM price_quotes"
    )
    assert {r[1] for r in rows} == {"lumenfall_llms"}, "nothing from the page that hung"
    for offering, _source, amount, currency, unit, observed_at, digest, status in rows:
        assert offering in LUMENFALL and Decimal(amount) > 0 and currency == "USD"
        assert unit == "image" and observed_at and digest and status == "accepted"
    # a page is stored whole: each page's read has its offering's one row, once per change
    assert len({(r[0], r[6]) for r in rows}) == len(rows)

    # the restarted process reads its prices back from the same file
    env = {**os.environ, "PROVMON_DATABASE_URL": f"sqlite:///{agent.db}"}
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor.cli",
            "prices",
            "show",
            "--json",
            "--config",
            str(agent.config_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert '"lumenfall_llms"' in shown.stdout
