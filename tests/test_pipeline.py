"""The result path in one direction, and replay: the service's start-up, ``provmon route``
and a bare ``replay`` rebuild the same health, prices and routes from the store."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from monitor.config import Config
from monitor.health import HealthBook, State
from monitor.interfaces import Outcome, ProbeResult
from monitor.metrics import Metrics
from monitor.pipeline import RecentResults, ResultPipeline, health_policy, replay
from monitor.routing import PolicyName
from monitor.service import Service
from monitor.store import Store
from monitor.writer import IncidentBatch, ResultWriter
from tests.test_store import make_result

#: the catalog sim_config is (Imagen 4's), for the CLI run
IMAGEN4 = str(Path(__file__).parents[1] / "monitor" / "catalog" / "imagen4.yaml")
MODEL = "imagen-4.0-generate-001"
BROKEN = f"lumenfall/{MODEL}"
GOOD = f"fal/{MODEL}"


def _history(config: Config, now: dt.datetime) -> list[ProbeResult]:
    """Ten minutes of generate probes: one offering failing since minute 5, one fine."""
    out = []
    for minute in range(10):
        at = now - dt.timedelta(minutes=10 - minute)
        for offering in (BROKEN, GOOD):
            failing = offering == BROKEN and minute >= 5
            r = make_result(offering, outcome=Outcome.SERVER_ERROR if failing else Outcome.OK)
            out.append(
                ProbeResult(
                    **{**r.__dict__, "started_at": at, "vantage": config.vantage}  # type: ignore[arg-type]
                )
            )
    return out


def _routes(routes: list) -> list:  # type: ignore[type-arg]
    return [
        (r.model, r.policy, [(e.offering, e.rank, round(e.weight, 6)) for e in r.entries])
        for r in routes
    ]


async def test_service_start_and_replay_rebuild_the_same_state(
    sim_config: Config, db_url: str
) -> None:
    now = dt.datetime.now(dt.UTC)
    store = Store(db_url)
    store.upgrade()
    for result in _history(sim_config, now):
        store.save_result(result)
    replayed = replay(store, sim_config, now)
    store.dispose()
    assert replayed.health.get(BROKEN, sim_config.vantage).state == State.DOWN
    assert replayed.health.get(GOOD, sim_config.vantage).state == State.UP
    assert len(replayed.recent.results) == 20
    assert replayed.prices.price_of(GOOD) == sim_config.offerings[GOOD].listed_price_usd
    [cost] = replayed.routing.routes(policy=PolicyName.COST, model=MODEL)
    ranks = {e.offering: e.rank for e in cost.entries}
    assert ranks[BROKEN] == 0 and ranks[GOOD] >= 1

    service = Service(sim_config, db_url)
    await service.prepare()
    try:
        assert service.state_of(BROKEN).state == State.DOWN
        assert _routes(service.routing.routes()) == _routes(replayed.routing.routes())
    finally:
        service.store.dispose()


def test_provmon_route_is_the_replayed_route(sim_config: Config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    now = dt.datetime.now(dt.UTC)
    url = f"sqlite:///{tmp_path / 'p.db'}"
    store = Store(url)
    store.upgrade()
    for result in _history(sim_config, now):
        store.save_result(result)
    expected = replay(store, sim_config, now).routing.routes(policy=PolicyName.COST, model=MODEL)
    store.dispose()
    proc = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "route", "--model", MODEL, "--config", IMAGEN4],
        capture_output=True,
        text=True,
        env={"PROVMON_DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    body = json.loads(proc.stdout)
    routes = body if isinstance(body, list) else body["routes"]
    [route] = [r for r in routes if r["policy"] == "cost"]
    got = [e["offering"] for e in route["entries"] if e["rank"] > 0]
    assert got == [e.offering for e in expected[0].entries if e.rank > 0]
    assert BROKEN not in got


def test_a_result_flows_one_way_to_store_metrics_health_and_windows(
    sim_config: Config, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    store = Store(f"sqlite:///{tmp_path / 'p.db'}")
    writer = ResultWriter(store)
    metrics = Metrics()
    health = HealthBook(health_policy(sim_config))
    recent = RecentResults()
    pipeline = ResultPipeline(
        sim_config, store=writer, incidents=writer, metrics=metrics, health=health, recent=recent
    )
    pipeline.listen()
    now = dt.datetime.now(dt.UTC)
    results = [r for r in _history(sim_config, now) if r.offering == BROKEN]
    for result in results:
        pipeline.accept(result)
    assert health.get(BROKEN, sim_config.vantage).state == State.DOWN
    assert len(recent.results) == len(results)
    text = metrics.render().decode()
    assert f'offering="{BROKEN}"' in text and 'outcome="server_error"' in text
    incidents = [i for i in writer.buffer if isinstance(i, IncidentBatch)]
    stored = [i for i in writer.buffer if not isinstance(i, IncidentBatch)]
    assert len(stored) == len(results)
    opened = [e.state for batch in incidents for e in batch.events if e.action == "open"]
    assert opened == [State.DEGRADED, State.DOWN]
    # each incident batch is queued right after the result that caused it, in one FIFO
    queue = list(writer.buffer)
    first = next(i for i, item in enumerate(queue) if isinstance(item, IncidentBatch))
    assert isinstance(queue[first - 1], ProbeResult)
    store.dispose()
