"""Acceptance flows of issues 4, 5 and 6, end to end over real sockets.

The real :class:`Service` runs in the test's event loop against the simulator (on its own
thread and port), with its intervals shrunk as ``provmon demo`` shrinks them, and its API is
served by :class:`Server` on a loopback port. The simulator is driven only through ``/_sim``,
as a person drives the demo; the command line runs as a real process. Every wait is a poll
with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
import jsonschema
import pytest
import yaml

from monitor.catalogs import load_catalog
from monitor.config import Config
from monitor.interfaces import Kind
from monitor.routing import DEFAULT_POLICIES
from monitor.servers import Server
from monitor.service import Service
from monitor.sim.pages_state import PageState
from monitor.web import build_api
from tests.conftest import set_behaviour
from tests.test_demo import sample
from tests.test_exports import _PORTKEY_TARGET, OPENROUTER_PROVIDER_SCHEMA, no_secrets

T = TypeVar("T")

PROVMON = [sys.executable, "-m", "monitor.cli"]
#: these flows exercise the Imagen 4 catalog (the CLI's default is the live one)
IMAGEN4 = Path(__file__).parent.parent / "monitor" / "catalog" / "imagen4.yaml"
_TAKES_CONFIG = ("run", "probe", "prices", "route", "catalog", "db")


def _imagen4_still_sold() -> Path:
    """The Imagen 4 catalog without its shutdown dates, as flow_config treats it (past its
    date an offering leaves routing and the gateway configs: tests/test_lifecycle_*)."""
    path = Path(tempfile.gettempdir()) / f"provmon-flows-imagen4-{os.getpid()}.yaml"
    if not path.exists():
        lines = IMAGEN4.read_text(encoding="utf-8").splitlines(keepends=True)
        path.write_text("".join(x for x in lines if "retired_after:" not in x), "utf-8")
    return path


def with_catalog(args: tuple[str, ...]) -> list[str]:
    """The command line, given the Imagen 4 catalog when the command takes a config."""
    if args and args[0] in _TAKES_CONFIG and "--config" not in args:
        return [*PROVMON, *args, "--config", str(_imagen4_still_sold())]
    return [*PROVMON, *args]


PRICING_FIXTURES = Path(__file__).parent / "fixtures" / "pricing"
MODEL = "imagen-4.0-generate-001"
LUMENFALL = f"lumenfall/{MODEL}"
FAL = f"fal/{MODEL}"
REPLICATE = f"replicate/{MODEL}"
GEMINI = f"gemini/{MODEL}"
#: simulator targets (``fake:model as the fake names it``)
LUMENFALL_TARGET = f"openai:{MODEL}"
REPLICATE_TARGET = "replicate:google/imagen-4"
#: fast fakes: probes take tens of milliseconds instead of a second
FAST = {
    "latency": {"ttfb": {"fixed": 0.01}, "inference": {"fixed": 0.05}, "queue": {"fixed": 0.05}}
}
PASSIVE_ENV = "PROVMON_FLOW_PASSIVE_TOKEN"


# -- helpers -------------------------------------------------------------------------------


def flow_config(
    base: Config,
    *,
    offerings: tuple[str, ...] | None = None,
    generate_every: float = 2.0,
    **overrides: Any,
) -> Config:
    """The simulated catalog with the demo's kind of short intervals, shorter still.

    Control probes every second; paid probes as often as ``generate_every`` (the cadence's
    bounds; the schedule's own interval stays long so that the probe deadline, 90 % of it,
    is the 10 s timeout); routes are evaluated by the tests; pricing sources are refreshed
    by the tests (their scheduled first read is harmless: it reads the same pages).
    """
    data = base.model_dump(mode="json")
    data["defaults"] = {
        **data["defaults"],
        "timeout_seconds": 10,
        "control": {"interval_seconds": 1, "jitter_seconds": 0},
        "generate": {"interval_seconds": 20, "jitter_seconds": 0},
    }
    data["budget"] = {"daily_usd": "2000", "offering_daily_usd": "200"}
    data["cadence"] = {
        "generate_min_interval_seconds": generate_every,
        "generate_max_interval_seconds": generate_every,
        "generate_confirm_seconds": 1,
        "generate_down_seconds": 2,
        "control_down_seconds": 0.5,
    }
    data["routing"] = {"evaluate_seconds": 3600}
    data["pricing_sources"] = {
        name: {**source, "interval_seconds": 3600}
        for name, source in data["pricing_sources"].items()
    }
    if offerings is not None:
        data["offerings"] = {k: v for k, v in data["offerings"].items() if k in offerings}
    # these flows exercise routing and probing on Imagen 4 as if it were still sold: its
    # shutdown date would take it out of routing (tests/test_lifecycle_routing.py)
    for model in data["models"].values():
        model["retired_after"] = None
    data["lifecycle_sources"] = {}
    data.update(overrides)
    return Config.model_validate(data)


@contextlib.asynccontextmanager
async def serving(
    config: Config, db_url: str, *, schedule: bool, hold_seconds: float | None = None
) -> AsyncIterator[tuple[Service, httpx.AsyncClient]]:
    """The service started (probing on its schedule or not) and a client of its API."""
    service = Service(config, db_url)
    service.scheduler.first_run_within = 0.2
    if hold_seconds is not None:
        # the default policies, with the hysteresis' hold scaled to the test's evaluations
        service.routing.policies = {
            p.name: replace(p, hysteresis=replace(p.hysteresis, hold_seconds=hold_seconds))
            for p in DEFAULT_POLICIES
        }
    await service.start(schedule=schedule)
    server = Server(build_api(service), "127.0.0.1", 0)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as api:
            yield service, api
    finally:
        await service.stop(grace=2)
        await server.stop()


async def until(check: Callable[[], Awaitable[T]], timeout: float, interval: float = 0.1) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: T = await check()
    while not last:
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")
        await asyncio.sleep(interval)
        last = await check()
    return last


async def metrics_of(api: httpx.AsyncClient) -> str:
    response = await api.get("/metrics")
    assert response.status_code == 200
    return response.text


async def state_of(api: httpx.AsyncClient, offering: str) -> dict[str, Any]:
    rows = (await api.get("/api/state")).json()
    [row] = [r for r in rows if r["offering"] == offering]
    return dict(row)


async def clear_behaviour(sim_url: str, target: str) -> None:
    """``DELETE /_sim/behaviour?target=``: that target recovers, other overrides stay."""
    async with httpx.AsyncClient() as client:
        response = await client.delete(f"{sim_url}/_sim/behaviour", params={"target": target})
        response.raise_for_status()


class SimPages:
    """``/_sim/price`` and ``/_sim/page``, restored to the defaults when the test ends (the
    simulator lives for the whole session)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.prices: set[tuple[str, str]] = set()
        self.pages: set[str] = set()

    def price(self, source: str, offering: str, amount: str) -> None:
        self.prices.add((source, offering))
        body = {"source": source, "offering": offering, "amount": amount}
        httpx.post(f"{self.url}/_sim/price", json=body).raise_for_status()

    def page(self, source: str, mode: str) -> None:
        self.pages.add(source)
        httpx.post(
            f"{self.url}/_sim/page", json={"source": source, "mode": mode}
        ).raise_for_status()

    def restore(self) -> None:
        defaults = PageState()
        for source, offering in self.prices:
            self.price(source, offering, str(defaults.price(source, offering)))
        for source in self.pages:
            self.page(source, "normal")


@pytest.fixture()
def sim_pages(sim_url: str) -> Iterator[SimPages]:
    pages = SimPages(sim_url)
    yield pages
    pages.restore()


def cli_env(env: dict[str, str] | None) -> dict[str, str]:
    """The environment of a ``provmon`` process: ours, minus a database URL, plus ``env``."""
    inherited = {k: v for k, v in os.environ.items() if k != "PROVMON_DATABASE_URL"}
    return {**inherited, "COLUMNS": "250", **(env or {})}


def provmon(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        with_catalog(args), capture_output=True, text=True, env=cli_env(env), timeout=120
    )


def run_all(commands: dict[str, tuple[str, ...]], env: dict[str, str]) -> dict[str, str]:
    """Several ``provmon`` commands at once (each process takes seconds to start); their
    standard outputs by name. Each must succeed."""
    procs = {
        name: subprocess.Popen(
            with_catalog(args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(env),
        )
        for name, args in commands.items()
    }
    outputs = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{name}: {stderr}"
        outputs[name] = stdout
    return outputs


# -- issue 4: listed prices ------------------------------------------------------------------


async def test_listed_prices_reach_the_store_and_metrics_and_a_broken_page_keeps_the_last(
    sim_config: Config, sim_pages: SimPages, db_url: str
) -> None:
    config = flow_config(sim_config)
    async with serving(config, db_url, schedule=False) as (service, api):
        await asyncio.gather(*(service.refresh_prices(name) for name in config.pricing_sources))
        metrics = await metrics_of(api)
        for name in config.pricing_sources:
            assert sample(metrics, "provmon_price_fetch_success", source=name) == 1, name
        # every offering has a price from every source that lists it; the primary one's is
        # the catalog's
        for offering, entry in config.offerings.items():
            assert entry.listed_price_usd is not None
            for source in entry.pricing_sources:
                assert sample(metrics, "provmon_price_usd", offering=offering, source=source) > 0
            primary = sample(
                metrics, "provmon_price_usd", offering=offering, source=entry.pricing_sources[0]
            )
            assert primary == float(entry.listed_price_usd), offering

        async def gemini_page() -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
            metrics = await metrics_of(api)
            body = (await api.get("/api/prices", params={"offering": GEMINI})).json()
            [current] = [r for r in body["current"] if r["source"] == "gemini_page"]
            history = [h for h in body["history"] if h["source"] == "gemini_page"]
            return metrics, current, history

        def price_gauge(metrics: str) -> float:
            return sample(metrics, "provmon_price_usd", offering=GEMINI, source="gemini_page")

        # a price changed in the simulator shows after the next refresh
        sim_pages.price("gemini_page", GEMINI, "0.05")
        await service.refresh_prices("gemini_page")
        metrics, current, history = await gemini_page()
        assert price_gauge(metrics) == 0.05
        assert (
            sample(metrics, "provmon_price_changes_total", offering=GEMINI, source="gemini_page")
            == 1
        )
        assert service.price_of(GEMINI) == Decimal("0.05")  # the primary source prices probes
        assert current["amount"] == "0.05" and current["status"] == "accepted"
        assert current["age_seconds"] is not None and current["age_seconds"] < 60
        assert not current["stale"]
        assert [(h["status"], h["amount"]) for h in history] == [
            ("accepted", "0.05"),
            ("accepted", "0.04"),
        ]
        assert "$0.05" in history[0]["evidence"]
        assert history[0]["source_url"].endswith("/pages/gemini/pricing")
        assert history[0]["content_hash"] != history[1]["content_hash"]

        # a jump beyond the ratio (+140 %) is held until it is read a second time
        sim_pages.price("gemini_page", GEMINI, "0.12")
        await service.refresh_prices("gemini_page")
        metrics, current, history = await gemini_page()
        assert price_gauge(metrics) == 0.05
        assert service.price_of(GEMINI) == Decimal("0.05")
        assert (current["status"], current["amount"]) == ("held", "0.05")
        assert (history[0]["status"], history[0]["amount"]) == ("held", "0.12")
        await service.refresh_prices("gemini_page")
        metrics, current, history = await gemini_page()
        assert price_gauge(metrics) == 0.12
        assert service.price_of(GEMINI) == Decimal("0.12")
        assert (current["status"], current["amount"]) == ("accepted", "0.12")
        assert (history[0]["status"], history[0]["amount"]) == ("accepted", "0.12")
        body = (await api.get("/api/prices", params={"offering": GEMINI})).json()
        # the Markdown twin still says 0.04: the sources disagree
        assert [d["offering"] for d in body["disagreements"]] == [GEMINI]

        # a broken layout: the fetch fails, no price is written, the last good one stays
        stored = len(history)
        sim_pages.page("gemini_page", "restructured")
        await service.refresh_prices("gemini_page")
        metrics, current, history = await gemini_page()
        assert sample(metrics, "provmon_price_fetch_success", source="gemini_page") == 0
        assert sample(metrics, "provmon_price_fetch_success", source="gemini_markdown") == 1
        assert price_gauge(metrics) == 0.12
        assert sample(metrics, "provmon_price_stale", offering=GEMINI, source="gemini_page") == 0
        assert service.price_of(GEMINI) == Decimal("0.12")
        assert (current["status"], current["amount"]) == ("accepted", "0.12")
        assert len(history) == stored

        # the page is fixed: the source reads fine again
        sim_pages.page("gemini_page", "normal")
        await service.refresh_prices("gemini_page")
        metrics = await metrics_of(api)
        assert sample(metrics, "provmon_price_fetch_success", source="gemini_page") == 1


def test_prices_parse_reads_a_saved_google_page_and_ignores_other_models() -> None:
    page = PRICING_FIXTURES / "gemini_page" / "normal.html"
    proc = provmon("prices", "parse", "gemini_page", str(page), "--json")
    assert proc.returncode == 0, proc.stderr
    quotes = json.loads(proc.stdout)["quotes"]
    assert {q["offering"]: (q["amount"], q["unit"], q["currency"]) for q in quotes} == {
        "gemini/imagen-4.0-fast-generate-001": ("0.02", "image", "USD"),
        "gemini/imagen-4.0-generate-001": ("0.04", "image", "USD"),
        "gemini/imagen-4.0-ultra-generate-001": ("0.06", "image", "USD"),
    }
    assert all(q["evidence"] for q in quotes)


def test_prices_refresh_then_show_from_the_command_line(
    sim_url: str, sim_pages: SimPages, tmp_path: Path
) -> None:
    env = {"PROVMON_DATA_DIR": str(tmp_path)}
    sim_pages.price("replicate_page", REPLICATE, "0.035")
    refreshed = provmon("prices", "refresh", "--simulator", sim_url, env=env)
    assert refreshed.returncode == 0, refreshed.stdout + refreshed.stderr
    assert "FAILED" not in refreshed.stdout
    assert (tmp_path / "provmon.db").exists()

    # no --simulator: the store's prices, read from the simulator a moment ago, are not stale
    shown = provmon("prices", "show", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)
    catalog = load_catalog("imagen4")
    listed = {(o, s) for o, entry in catalog.offerings.items() for s in entry.pricing_sources}
    assert {(r["offering"], r["source"]) for r in rows} == listed
    for row in rows:
        assert row["status"] == "accepted", row
        assert row["unit"] == "image" and Decimal(row["amount"]) > 0, row
        assert row["age_seconds"] is not None and 0 <= row["age_seconds"] < 120, row
        assert row["stale"] is False, row
    by_key = {(r["offering"], r["source"]): r for r in rows}
    assert by_key[(REPLICATE, "replicate_page")]["amount"] == "0.035"
    assert by_key[(GEMINI, "gemini_page")]["amount"] == "0.04"
    assert by_key[(FAL, "litellm_json")]["amount"] == "0.0398"  # kept as listed


# -- issue 5: outages, incidents, budget, passive samples ------------------------------------


async def test_an_outage_moves_the_offering_down_and_back_up_with_an_incident(
    sim_config: Config, sim_url: str, tmp_path: Path
) -> None:
    set_behaviour(sim_url, "*", **FAST)
    config = flow_config(sim_config, offerings=(LUMENFALL, FAL), generate_every=1.0)
    db = f"sqlite:///{tmp_path / 'provmon.db'}"
    async with serving(config, db, schedule=True) as (_service, api):

        async def state_is(offering: str, state: str) -> dict[str, Any] | None:
            row = await state_of(api, offering)
            return row if row["state"] == state else None

        async def paid_probe_billed() -> float:
            metrics = await metrics_of(api)
            return sample(metrics, "provmon_probe_spend_usd_total", offering=LUMENFALL)

        await until(lambda: state_is(LUMENFALL, "up"), 20)
        await until(lambda: state_is(FAL, "up"), 20)
        await until(paid_probe_billed, 20)
        metrics = await metrics_of(api)
        assert sample(metrics, "provmon_offering_state", offering=LUMENFALL, state="up") == 1
        assert sample(metrics, "provmon_offering_state", offering=LUMENFALL, state="down") == 0
        assert sample(metrics, "provmon_probe_budget_usd", scope="global") == 2000
        assert sample(metrics, "provmon_probe_budget_usd", scope=LUMENFALL) == 200
        spent = sample(metrics, "provmon_probe_spend_usd_total", offering=LUMENFALL)
        left = sample(metrics, "provmon_probe_budget_remaining_usd", scope=LUMENFALL)
        assert spent > 0 and 0 < left < 200

        # Lumenfall's Imagen 4 fails with 500s (the README's example)
        set_behaviour(sim_url, LUMENFALL_TARGET, outage="error")
        down = await until(lambda: state_is(LUMENFALL, "down"), 20)
        assert "server_error" in down["reason"]
        metrics = await metrics_of(api)
        assert sample(metrics, "provmon_offering_state", offering=LUMENFALL, state="down") == 1
        assert sample(metrics, "provmon_offering_state", offering=LUMENFALL, state="up") == 0
        assert sample(metrics, "provmon_offering_state", offering=FAL, state="up") == 1
        failed = (
            await api.get("/api/probes", params={"offering": LUMENFALL, "outcome": "server_error"})
        ).json()
        assert failed and failed[0]["http_status"] == 500

        async def incident(open_: bool) -> dict[str, Any] | None:
            rows = (await api.get("/api/incidents", params={"offering": LUMENFALL})).json()
            found = [r for r in rows if r["state"] == "down" and (r["ended_at"] is None) == open_]
            return found[0] if found else None

        opened = await until(lambda: incident(open_=True), 10)
        assert opened["vantage"] == config.vantage
        assert "server_error" in opened["reason"]
        started = dt.datetime.fromisoformat(opened["started_at"])

        # the provider recovers (the fast latency on "*" stays)
        await clear_behaviour(sim_url, LUMENFALL_TARGET)
        up = await until(lambda: state_is(LUMENFALL, "up"), 20)
        assert "recovered" in up["reason"] or "succeed" in up["reason"]
        closed = await until(lambda: incident(open_=False), 10)
        assert closed["started_at"] == opened["started_at"]
        assert closed["reason"] == opened["reason"]
        assert dt.datetime.fromisoformat(closed["ended_at"]) > started
        assert not (await api.get("/api/incidents", params={"open": True})).json()
        metrics = await metrics_of(api)
        assert sample(metrics, "provmon_offering_state", offering=LUMENFALL, state="up") == 1
        assert sample(metrics, "provmon_offering_state", offering=LUMENFALL, state="down") == 0


async def test_a_tight_budget_is_never_overspent_and_skips_are_counted(
    sim_config: Config, sim_url: str, tmp_path: Path
) -> None:
    set_behaviour(sim_url, "*", **FAST)
    cap = Decimal("0.08")  # two $0.04 images a day, 30 % of it kept for confirmations
    config = flow_config(
        sim_config,
        offerings=(FAL, LUMENFALL),
        generate_every=0.5,
        budget={"daily_usd": None, "offering_daily_usd": "200", "per_offering_usd": {FAL: "0.08"}},
    )
    db = f"sqlite:///{tmp_path / 'provmon.db'}"
    async with serving(config, db, schedule=True) as (service, api):

        async def skipped_for_budget() -> float:
            metrics = await metrics_of(api)
            return sample(metrics, "provmon_probes_skipped_total", offering=FAL, reason="budget")

        await until(skipped_for_budget, 20)
        # a burst of paid probes at once: the reservations are atomic, none gets through
        burst = await asyncio.gather(*(service.probe_once(FAL, Kind.GENERATE) for _ in range(8)))
        sent = [r for r in burst if r is not None]
        assert not sent, [r.outcome for r in sent]
        # the offering without a tight cap keeps probing meanwhile
        await until(lambda: _count_ok(api, LUMENFALL, 3), 20)
        metrics = await metrics_of(api)
        skipped = sample(metrics, "provmon_probes_skipped_total", offering=FAL, reason="budget")
        assert skipped >= 1 + len(burst)
        assert sample(metrics, "provmon_probes_total", offering=FAL, kind="generate") >= 1
        # what the paid probes cost: the listed price when each was sent (about $0.04)
        assert await service.writer.flush()
        probes = (await api.get("/api/probes", params={"offering": FAL, "kind": "generate"})).json()
        spent = sum(Decimal(p["cost_usd"]) for p in probes)
        assert 0 < spent <= cap
        spend_metric = sample(metrics, "provmon_probe_spend_usd_total", offering=FAL)
        assert spend_metric == pytest.approx(float(spent))
        assert sample(metrics, "provmon_probe_budget_usd", scope=FAL) == float(cap)
        remaining = sample(metrics, "provmon_probe_budget_remaining_usd", scope=FAL)
        assert remaining == pytest.approx(float(cap - spent))
        [row] = [r for r in (await api.get("/api/budget")).json() if r["scope"] == FAL]
        assert Decimal(row["spent_usd"]) == spent and Decimal(row["remaining_usd"]) >= 0
    # the ledger agrees: what was reserved or settled today never passed the cap
    ledger = service.store.spend_by_offering(dt.datetime.now(dt.UTC).date())
    assert Decimal(ledger.get(FAL, 0)) / 1_000_000 <= cap


async def _count_ok(api: httpx.AsyncClient, offering: str, at_least: int) -> bool:
    rows = (
        await api.get(
            "/api/probes", params={"offering": offering, "kind": "generate", "outcome": "ok"}
        )
    ).json()
    return len(rows) >= at_least


async def test_passive_samples_need_the_token_and_feed_the_health_engine(
    sim_config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSIVE_ENV, "flow-passive-token")
    config = flow_config(sim_config, offerings=(FAL,), passive={"token_env": PASSIVE_ENV})
    db = f"sqlite:///{tmp_path / 'provmon.db'}"
    now = dt.datetime.now(dt.UTC)

    def batch(outcome: str, n: int, start: float, every: float = 1) -> dict[str, Any]:
        return {
            "samples": [
                {
                    "offering": FAL,
                    "outcome": outcome,
                    "latency_s": 2.5,
                    "at": (now - dt.timedelta(seconds=start - i * every)).isoformat(),
                }
                for i in range(n)
            ]
        }

    async with serving(config, db, schedule=False) as (_service, api):
        # passive failures alone make an offering down only spread over minutes (issue 13)
        failures = batch("server_error", 4, start=300, every=60)
        assert (await api.post("/api/samples", json=failures)).status_code == 401
        wrong = {"Authorization": "Bearer not-the-token"}
        response = await api.post("/api/samples", json=failures, headers=wrong)
        assert response.status_code == 401
        assert (await state_of(api, FAL))["state"] == "unknown"  # refused whole

        token = {"Authorization": "Bearer flow-passive-token"}
        response = await api.post("/api/samples", json=failures, headers=token)
        assert response.status_code == 202 and response.json() == {"accepted": 4}
        down = await state_of(api, FAL)
        assert down["state"] == "down" and "server_error" in down["reason"]
        # real traffic succeeds again (enough to outweigh the failures in the error window)
        response = await api.post("/api/samples", json=batch("ok", 5, start=10), headers=token)
        assert response.status_code == 202
        assert (await state_of(api, FAL))["state"] == "up"

        async def closed() -> list[dict[str, Any]]:
            rows = (await api.get("/api/incidents", params={"offering": FAL})).json()
            return [r for r in rows if r["ended_at"] is not None]

        [incident] = await until(closed, 10)
        assert incident["state"] == "down" and "server_error" in incident["reason"]


# -- issue 6: routing ------------------------------------------------------------------------


async def test_the_first_choice_follows_outages_and_prices_without_flapping(
    sim_config: Config,
    sim_url: str,
    sim_pages: SimPages,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_behaviour(sim_url, "*", **FAST)
    # every competitor lists $0.04; Replicate is made clearly cheapest, the route to return to
    sim_pages.price("replicate_page", REPLICATE, "0.03")
    config = flow_config(sim_config, offerings=(FAL, LUMENFALL, REPLICATE), generate_every=0.4)
    db_path = tmp_path / "provmon.db"
    firsts: list[str | None] = []
    async with serving(config, f"sqlite:///{db_path}", schedule=True, hold_seconds=2.0) as (
        service,
        api,
    ):
        await service.refresh_prices("replicate_page")
        assert service.price_of(REPLICATE) == Decimal("0.03")

        async def watch(done: Callable[[dict[str, Any]], Awaitable[bool]], timeout: float) -> None:
            """Evaluate the routes every 0.2 s, recording the first choice ``/api/routing``
            shows after each evaluation, until ``done(route)`` holds."""
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while True:
                service.evaluate_routes()
                response = await api.get("/api/routing", params={"model": MODEL, "policy": "cost"})
                [route] = response.json()["routes"]
                firsts.append(route["first"])
                if await done(route):
                    return
                if loop.time() > deadline:
                    raise AssertionError(f"not within {timeout}s; first choices: {firsts[-20:]}")
                await asyncio.sleep(0.2)

        async def replicate_first(route: dict[str, Any]) -> bool:
            return bool(route["first"] == REPLICATE)

        async def another_first(route: dict[str, Any]) -> bool:
            return route["first"] not in (None, REPLICATE)

        async def replicate_preferred(route: dict[str, Any]) -> bool:
            # first on its merits: healthy, measured (not merely the cheapest unmeasured one)
            first = route["entries"][0]
            return bool(
                route["first"] == REPLICATE
                and first["tier"] == "primary"
                and first["samples"] >= 20
            )

        # the route settles on the cheapest healthy offering
        await watch(replicate_preferred, 40)
        firsts.clear()
        await watch(replicate_first, 1)

        # the simulator takes Replicate down: the route leaves it at once
        set_behaviour(sim_url, REPLICATE_TARGET, outage="error")

        async def replicate_down(route: dict[str, Any]) -> bool:
            state = (await state_of(api, REPLICATE))["state"]
            return await another_first(route) and state == "down"

        await watch(replicate_down, 20)
        # ... and returns once it has recovered and proven itself for the hold
        await clear_behaviour(sim_url, REPLICATE_TARGET)
        await watch(replicate_first, 60)
        assert (await state_of(api, REPLICATE))["state"] == "up"

        # Replicate raises its price above the others': the route moves after the hold
        sim_pages.price("replicate_page", REPLICATE, "0.044")
        await service.refresh_prices("replicate_page")
        assert service.price_of(REPLICATE) == Decimal("0.044")
        raised = len(firsts)
        await watch(another_first, 30)
        assert firsts[raised:].count(REPLICATE) >= 2  # held for evaluations, not flipped

        # ... and returns when the price falls again
        sim_pages.price("replicate_page", REPLICATE, "0.032")
        await service.refresh_prices("replicate_page")
        await watch(replicate_first, 30)
        for _ in range(5):
            await watch(replicate_first, 1)

        # exactly four switches: away and back, twice; nothing in between
        switches = [first for first, _ in itertools.groupby(firsts)]
        assert len(switches) == 5, firsts
        assert switches[0::2] == [REPLICATE] * 3, switches
        assert all(s not in (None, REPLICATE) for s in switches[1::2]), switches
        metrics = await metrics_of(api)
        assert (
            sample(metrics, "provmon_route_rank", model=MODEL, offering=REPLICATE, policy="cost")
            == 1
        )

    # the gateway configs, from the command line, on the database the service filled
    env = {"PROVMON_DATABASE_URL": f"sqlite:///{db_path}"}
    outputs = run_all(
        {fmt: ("route", "--model", MODEL, "--format", fmt) for fmt in ("json", "litellm")}
        | {fmt: ("route", "--format", fmt) for fmt in ("openrouter", "portkey")},
        env=env,
    )
    [route] = json.loads(outputs["json"])["routes"]
    assert route["first"] == REPLICATE, route
    entries = {e["offering"]: e for e in route["entries"]}
    assert entries[REPLICATE]["price_usd"] == "0.032"  # the current price, as the service's
    assert entries[REPLICATE]["samples"] > 0
    _check_gateway_exports(outputs, monkeypatch)


def _check_gateway_exports(outputs: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """What test_exports checks on hand-built routes, on the CLI's routes from the store."""
    no_secrets(outputs["litellm"])
    loaded = yaml.safe_load(outputs["litellm"])
    # LiteLLM's own Router loads the file and picks the route's first choice
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    for name in ("GEMINI_API_KEY", "FAL_KEY", "REPLICATE_API_TOKEN", "LUMENFALL_API_KEY"):
        monkeypatch.setenv(name, "placeholder")
    from litellm import Router

    router = Router(model_list=loaded["model_list"], **loaded["router_settings"])
    assert router.get_available_deployment(model=MODEL)["model_info"]["id"] == REPLICATE
    orders = {d["model_info"]["id"]: d["litellm_params"]["order"] for d in loaded["model_list"]}
    assert orders[REPLICATE] == 1 and sorted(orders.values()) == list(range(1, len(orders) + 1))

    bodies = json.loads(outputs["openrouter"])
    assert set(bodies) == set(load_catalog("imagen4").models)
    for body in bodies.values():
        jsonschema.validate(body["provider"], OPENROUTER_PROVIDER_SCHEMA)

    no_secrets(outputs["portkey"])
    configs = json.loads(outputs["portkey"])
    assert set(configs) == set(load_catalog("imagen4").models)
    for body in configs.values():
        jsonschema.validate(body, _PORTKEY_TARGET)
        assert body["strategy"]["mode"] == "fallback"
    assert configs[MODEL]["targets"][0]["provider"] == "replicate"
