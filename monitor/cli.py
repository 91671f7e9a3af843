"""``provmon``: the command line. Every failure a person can fix is one line and exit code 2."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from monitor import cli_checks
from monitor.catalogs import demo_catalog
from monitor.cli_catalog import catalog_app
from monitor.cli_common import ConfigOption, err, fail, out, setup_logging
from monitor.cli_common import database as _database
from monitor.cli_common import load as _load
from monitor.cli_common import simulator as _simulator
from monitor.cli_prices import prices_app
from monitor.config import (
    Config,
    json_schema,
    point_at_simulator,
    simulator_credentials,
)
from monitor.config_checks import credential_problems
from monitor.interfaces import Kind, ProbeResult
from monitor.routing import PolicyName
from monitor.secrets import redact_url
from monitor.store import Store, StoreError

app = typer.Typer(
    name="provmon",
    help="Monitor AI image-generation providers: probes, prices, health, routing.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _run_async(main: Callable[[], Coroutine[Any, Any, int]]) -> int:
    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 130


def _install_stop(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def _serve_service(
    config: Config, db_url: str, *, seconds: float | None, banner: Callable[[str], None]
) -> int:
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
    banner(server.url)
    stop = asyncio.Event()
    _install_stop(stop)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    logging.getLogger("provmon").info("stopping: letting probes in flight finish")
    await service.stop()
    await server.stop()
    return 0


@app.command()
def run(config: ConfigOption = None) -> None:
    """Run the monitor against the providers in the config."""
    setup_logging()
    cfg = _load(config)
    missing = cfg.missing_credentials()
    if missing:
        fail("missing credential: " + "; ".join(missing))
    unusable = credential_problems(cfg, cfg.enabled_offerings())
    if unusable:
        fail("unusable credential: " + "; ".join(unusable))
    url = _database(cfg)
    try:
        Store(url).check()
    except StoreError as exc:
        fail(str(exc))

    def banner(base: str) -> None:
        err.print(
            f"provmon running: {len(cfg.enabled_offerings())} offerings, database {redact_url(url)}"
        )
        err.print(
            f"  status   {base}/\n  metrics  {base}/metrics\n  api      {base}/api/state",
            soft_wrap=True,
        )

    raise typer.Exit(_run_async(lambda: _serve_service(cfg, url, seconds=None, banner=banner)))


@app.command()
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

    code = _run_async(lambda: _serve_service(cfg, url, seconds=seconds, banner=banner))
    sim.stop()
    raise typer.Exit(code)


@app.command()
def simulate(
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8787,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    scenario: Annotated[Path | None, typer.Option(help="Scenario YAML file")] = None,
    control: Annotated[bool, typer.Option(help="Enable the /_sim control API")] = False,
) -> None:
    """Serve the provider simulators alone."""
    setup_logging("WARNING")
    import uvicorn
    from pydantic import ValidationError

    from monitor.sim.app import build_app
    from monitor.sim.scenario import Scenario

    loaded = None
    if scenario is not None:
        try:
            loaded = Scenario.from_text(scenario.read_text(encoding="utf-8"))
        except (OSError, ValidationError, ValueError) as exc:
            fail(f"invalid scenario {scenario}: {str(exc).splitlines()[0]}")
    from monitor.servers import ListenError, check_free

    try:
        check_free(host, port)
    except ListenError as exc:
        fail(str(exc))
    token = os.environ.get("PROVMON_SIM_TOKEN")
    app_ = build_app(loaded, control_enabled=control or bool(token), control_token=token)
    from monitor.access import is_loopback

    if control and not token and not is_loopback(host):
        sys.stderr.write(
            f"provmon: warning: the simulator's control API on {host} lets anyone who can "
            "reach it change its behaviour: set PROVMON_SIM_TOKEN\n"
        )
    err.print(f"provmon simulator on http://{host}:{port}")
    # a fake provider answers with injected delays: keep start-up objects out of the
    # collector's full passes, whose pauses would add to every injected delay
    import gc

    gc.collect()
    gc.freeze()
    uvicorn.run(
        app_,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=120,
        backlog=4096,
    )


@app.command()
def probe(
    offering: Annotated[
        str, typer.Argument(help="provider/model, e.g. lumenfall/imagen-4.0-generate-001")
    ],
    kind: Annotated[Kind, typer.Option(help="generate (billed) or control (free)")] = Kind.CONTROL,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    config: ConfigOption = None,
    simulator: Annotated[
        str | None, typer.Option(help="Aim the catalog at a simulator URL")
    ] = None,
) -> None:
    """Run one probe now and print its result."""
    setup_logging("WARNING")
    cfg = _load(config)
    if simulator:
        os.environ.update(simulator_credentials(cfg))
        cfg = point_at_simulator(cfg, _simulator(simulator))
    if offering not in cfg.offerings:
        fail(f"unknown offering {offering!r}; known: {', '.join(sorted(cfg.offerings))}")
    missing = cfg.missing_credentials_for([offering])
    if missing:
        fail("missing credential: " + "; ".join(missing))
    unusable = credential_problems(cfg, [offering])
    if unusable:
        fail("unusable credential: " + "; ".join(unusable))
    from monitor.runner import Runner

    async def main() -> ProbeResult:
        runner = Runner(cfg)
        try:
            return await runner.run_probe(offering, kind)
        finally:
            await runner.aclose()

    result = asyncio.run(main())
    from monitor.web import result_json

    if as_json:
        out.print_json(json.dumps(result_json(result)))
    else:
        _print_result(result)
    raise typer.Exit(0 if result.outcome == "ok" else 1)


def _print_result(result: ProbeResult) -> None:
    table = Table(title=f"{result.kind.value} probe of {result.offering}", show_header=False)
    table.add_row("outcome", result.outcome.value)
    for phase, seconds in result.phases.items():
        table.add_row(phase.value, f"{seconds * 1000:.1f} ms")
    if result.http_status is not None:
        table.add_row("http status", str(result.http_status))
    if result.image is not None:
        img = result.image
        table.add_row("image", f"{img.mime} {img.width}x{img.height}, {img.size_bytes} bytes")
    if result.error:
        table.add_row("error", result.error)
    out.print(table)


@app.command("check-config")
def check_config(
    file: Annotated[Path | None, typer.Argument(help="Config file (default: the catalog)")] = None,
    schema: Annotated[bool, typer.Option(help="Print the config's JSON Schema instead")] = False,
) -> None:
    """Validate a config offline; print the path of every bad key."""
    if schema:
        out.print_json(json.dumps(json_schema()))
        raise typer.Exit(0)
    cfg = _load(file)
    offerings = cfg.enabled_offerings()
    out.print(
        f"ok: {len(offerings)} offerings, {len(cfg.providers)} providers, "
        f"{len(cfg.pricing_sources)} pricing sources"
    )


app.add_typer(prices_app, name="prices")
app.add_typer(catalog_app, name="catalog")


@app.command()
def route(
    model: Annotated[str | None, typer.Option(help="One model")] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="json | litellm | openrouter | portkey")
    ] = "json",
    policy: Annotated[PolicyName, typer.Option(help="Routing policy")] = PolicyName.COST,
    allow_empty: Annotated[
        bool, typer.Option(help="Print routes even when no probe result backs them")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """The current routes, or the routing config for a gateway, from the stored results.

    Reads the database the service writes (PROVMON_DATABASE_URL, else PROVMON_DATA_DIR);
    with no result of the last day there, the ranking would rest on list prices alone:
    that is an error unless ``--allow-empty``."""
    setup_logging("WARNING")
    import datetime as dt

    from monitor.exports import FORMATS, render
    from monitor.pipeline import replay

    cfg = _load(config)
    if fmt not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}")
    if model is not None and model not in cfg.models:
        fail(f"unknown model {model!r}; known: {', '.join(sorted(cfg.models))}")
    now = dt.datetime.now(dt.UTC)
    url = _database(cfg)
    store = Store(url)
    try:
        store.upgrade()
        evidence = store.recent_results(since=now - dt.timedelta(days=1), limit=1)
        # the service's own start-up: health, prices, the day's results, one evaluation
        engine = replay(store, cfg, now).routing
    except StoreError as exc:
        fail(str(exc))
    finally:
        store.dispose()
    if not evidence:
        empty = (
            f"no probe results of the last day in {cli_checks.describe(url)}: "
            "these routes rest on no evidence (is the service writing to this database? "
            "set PROVMON_DATABASE_URL or PROVMON_DATA_DIR as it has them)"
        )
        if not allow_empty:
            fail(empty + "; --allow-empty prints them anyway")
        sys.stderr.write(f"provmon: warning: {empty}\n")
    routes = engine.routes(policy=policy, model=model)
    text = render(
        FORMATS[fmt](routes, _routable_targets(cfg, now)), "yaml" if fmt == "litellm" else "json"
    )
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _routable_targets(cfg: Config, now: datetime.datetime) -> dict[str, Any]:
    """The gateway targets of offerings not past a known shutdown (the catalog's dates)."""
    from monitor.catalog_watch import CatalogWatch
    from monitor.exports import targets_from_config

    watch = CatalogWatch(cfg, now=lambda: now)
    return {k: t for k, t in targets_from_config(cfg).items() if watch.routable(k)}


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Apply database migrations."""
    setup_logging("WARNING")
    cfg = _load(config)
    url = _database(cfg)
    try:
        Store(url).upgrade()
    except StoreError as exc:
        fail(str(exc))
    out.print(f"database {redact_url(url)} is up to date")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
