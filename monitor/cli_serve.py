"""Serving: the loop ``provmon run`` and ``provmon demo`` share, and the demo itself (the
simulators, the monitor and a database on one machine, nothing configured or billed)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer

from monitor import cli_checks
from monitor.catalogs import demo_catalog
from monitor.cli_common import database as _database
from monitor.cli_common import fail, out, setup_logging
from monitor.config import Config, point_at_simulator, simulator_credentials
from monitor.store import StoreError


def new_loop() -> asyncio.AbstractEventLoop:
    """The event loop the service runs on: uvloop's where it is installed (issue 18: its
    sockets and timers cost less CPU per probe than asyncio's own loop), else asyncio's."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - a platform without uvloop's wheels
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_async(main: Callable[[], Coroutine[Any, Any, int]]) -> int:
    try:
        with asyncio.Runner(loop_factory=new_loop) as runner:
            return runner.run(main())
    except KeyboardInterrupt:
        return 130


def _install_stop(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def serve_service(
    config: Config, db_url: str, *, seconds: float | None, banner: Callable[[str], None]
) -> int:
    from monitor.heap import settle as settle_heap
    from monitor.servers import ListenError, Server
    from monitor.service import Service
    from monitor.web import build_api

    service = Service(config, db_url)
    try:
        await service.prepare()
    except StoreError as exc:
        fail(str(exc))
    server = Server(build_api(service), config.listen.host, config.listen.port)
    try:
        await server.start()
    except ListenError as exc:
        service.store.dispose()
        fail(str(exc))
    except (OSError, SystemExit) as exc:
        fail(f"cannot listen on {config.listen.host}:{config.listen.port}: {exc}")
    await service.start()
    # issue 18: what start-up built is never walked by the collector again (monitor/heap.py)
    settle_heap()
    banner(server.url)
    stop = asyncio.Event()
    _install_stop(stop)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    logging.getLogger("provmon").info("stopping: letting probes in flight finish")
    await service.stop()
    await server.stop()
    return 0


def demo(
    seconds: Annotated[
        float | None, typer.Option("--for", help="Exit after this many seconds")
    ] = None,
    port: Annotated[int, typer.Option(help="Port of the monitor's HTTP server")] = 9464,
    sim_port: Annotated[int, typer.Option(help="Port of the simulator (0: any free port)")] = 0,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Where the demo's SQLite lives (unless PROVMON_DATABASE_URL is set)"),
    ] = None,
) -> None:
    """The whole system on simulated providers, nothing to configure."""
    setup_logging("WARNING")
    from monitor.servers import ListenError, ThreadedServer
    from monitor.sim.app import build_app
    from monitor.sim.scenario import shut_down_models

    # the providers as they answer today: retired models answer as gone (Imagen 4 shows
    # retired beside the live catalog)
    sim = ThreadedServer(build_app(shut_down_models(), control_enabled=True), "127.0.0.1", sim_port)
    try:
        sim.start()
    except (ListenError, OSError) as exc:
        fail(f"cannot start the simulator: {exc}")
    base = demo_catalog()  # the live catalog, and Imagen 4 as the example of retirement
    os.environ.update(simulator_credentials(base))
    # the database every other command reads (PROVMON_DATABASE_URL, PROVMON_DATA_DIR,
    # ./data), so `provmon route` and `prices show` see what the demo measured
    # PROVMON_DATABASE_URL wins (PostgreSQL, to try and fault that path), then --data-dir
    if os.environ.get("PROVMON_DATABASE_URL") or data_dir is None:
        url = _database(base)
    else:
        url = f"sqlite:///{data_dir.resolve() / 'provmon.db'}"
    if data_dir:
        try:
            cli_checks.writable_dir(data_dir.resolve(), "--data-dir")
        except cli_checks.SettingError as exc:
            fail(str(exc))
    cfg = point_at_simulator(
        base,
        sim.url,
        listen={"host": "127.0.0.1", "port": port},
        defaults={
            **base.defaults.model_dump(mode="json"),
            "control": {"interval_seconds": 5, "jitter_seconds": 0.5},
            "generate": {"interval_seconds": 20, "jitter_seconds": 1},
            "timeout_seconds": 30,
        },
        # simulated money: a budget that allows a paid probe about every 20 s, so the
        # demo shows the adaptive cadence at work within minutes instead of hours
        budget={"daily_usd": "2000", "offering_daily_usd": "200"},
        cadence={
            "generate_min_interval_seconds": 20,
            "generate_max_interval_seconds": 60,
            "generate_confirm_seconds": 5,
            "generate_down_seconds": 10,
            "control_down_seconds": 2,
        },
        routing={"evaluate_seconds": 5},
        pricing_sources={
            name: {**source.model_dump(mode="json"), "interval_seconds": 30}
            for name, source in point_at_simulator(base, sim.url).pricing_sources.items()
        },
    )

    def banner(monitor_url: str) -> None:
        samples = (
            "on (PROVMON_PASSIVE_TOKEN)"
            if os.environ.get("PROVMON_PASSIVE_TOKEN")
            else "off: set PROVMON_PASSIVE_TOKEN to try POST /api/samples"
        )
        lines = [
            "[bold]provmon demo[/bold]: simulated providers, nothing billed",
            f"  status page  {monitor_url}/",
            f"  state        {monitor_url}/api/state",
            f"  metrics      {monitor_url}/metrics",
            f"  probes       {monitor_url}/api/probes",
            f"  api          {monitor_url}/api/docs",
            f"  simulator    {sim.url}",
            f"  outage       curl -X POST {sim.url}/_sim/behaviour "
            """-d '{"target": "openai:*", "outage": "error"}'""",
            f"  database     {cli_checks.describe(url)}  (provmon route reads it too)",
            f"  samples      {samples}",
        ]
        if seconds:
            lines.append(f"  exits after {seconds:.0f}s; Ctrl-C stops it sooner")
        for line in lines:
            out.print(line, soft_wrap=True, highlight=False)

    code = run_async(lambda: serve_service(cfg, url, seconds=seconds, banner=banner))
    sim.stop()
    raise typer.Exit(code)
