"""``provmon``: the command line. Every failure a person can fix is one line and exit code 2."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from monitor import secrets
from monitor.catalogs import demo_catalog
from monitor.config import (
    Config,
    ConfigError,
    json_schema,
    load_config,
    point_at_simulator,
    simulator_credentials,
)
from monitor.interfaces import Kind, ProbeResult
from monitor.routing import PolicyName
from monitor.store import Store, StoreError, redact_url

app = typer.Typer(
    name="provmon",
    help="Monitor AI image-generation providers: probes, prices, health, routing.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
out = Console()
err = Console(stderr=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Config file (default: the live catalog)")
]


def fail(message: str) -> NoReturn:
    """One line on stderr, exit code 2: the way every fixable problem ends."""
    line = " ".join(secrets.scrub(message).split())
    sys.stderr.write(f"provmon: error: {line}\n")
    raise typer.Exit(2)


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(secrets.ScrubbingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("PROVMON_LOG_LEVEL", level).upper())
    for noisy in ("httpx", "httpcore", "apscheduler.executors", "apscheduler.scheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _load(path: Path | None) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        lines = str(exc).splitlines()
        where = str(path) if path else "default catalog"
        fail(f"invalid config {where}: " + "; ".join(lines))


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
    from monitor.servers import Server
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
    from monitor.service import database_url

    url = database_url(cfg)
    try:
        Store(url).check()
    except StoreError as exc:
        fail(str(exc))

    def banner(base: str) -> None:
        err.print(
            f"provmon running: {len(cfg.enabled_offerings())} offerings, database {redact_url(url)}"
        )
        err.print(f"  metrics  {base}/metrics\n  api      {base}/api/state")

    raise typer.Exit(_run_async(lambda: _serve_service(cfg, url, seconds=None, banner=banner)))


@app.command()
def demo(
    seconds: Annotated[
        float | None, typer.Option("--for", help="Exit after this many seconds")
    ] = None,
    port: Annotated[int, typer.Option(help="Port of the monitor's HTTP server")] = 9464,
    sim_port: Annotated[int, typer.Option(help="Port of the simulator (0: any free port)")] = 0,
    data_dir: Annotated[Path | None, typer.Option(help="Where the demo's SQLite lives")] = None,
) -> None:
    """The whole system on simulated providers, nothing to configure."""
    setup_logging("WARNING")
    from monitor.servers import ThreadedServer
    from monitor.sim.app import build_app

    sim = ThreadedServer(build_app(control_enabled=True), "127.0.0.1", sim_port)
    try:
        sim.start()
    except OSError as exc:
        fail(f"cannot start the simulator: {exc}")
    base = demo_catalog()  # the live catalog, and Imagen 4 as the example of retirement
    os.environ.update(simulator_credentials(base))
    folder = data_dir or Path(tempfile.mkdtemp(prefix="provmon-demo-"))
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
    url = f"sqlite:///{folder.resolve() / 'provmon.db'}"

    def banner(monitor_url: str) -> None:
        out.print("[bold]provmon demo[/bold]: simulated providers, nothing billed")
        out.print(f"  status     {monitor_url}/api/state")
        out.print(f"  metrics    {monitor_url}/metrics")
        out.print(f"  probes     {monitor_url}/api/probes")
        out.print(f"  simulator  {sim.url}  (inject an outage: POST {sim.url}/_sim/behaviour)")
        out.print(f"  database   {url}")
        if seconds:
            out.print(f"  exits after {seconds:.0f}s; Ctrl-C stops it sooner")

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
    token = os.environ.get("PROVMON_SIM_TOKEN")
    app_ = build_app(loaded, control_enabled=control or bool(token), control_token=token)
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
        cfg = point_at_simulator(cfg, simulator.rstrip("/"))
    if offering not in cfg.offerings:
        fail(f"unknown offering {offering!r}; known: {', '.join(sorted(cfg.offerings))}")
    missing = cfg.missing_credentials_for([offering])
    if missing:
        fail("missing credential: " + "; ".join(missing))
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


prices_app = typer.Typer(
    help="Listed prices: read the sources now, show them, parse a saved page.",
    no_args_is_help=True,
)
app.add_typer(prices_app, name="prices")
SimulatorOption = Annotated[str | None, typer.Option(help="Aim the catalog at a simulator URL")]


def _prices_config(config: Path | None, simulator: str | None) -> Config:
    cfg = _load(config)
    if simulator:
        os.environ.update(simulator_credentials(cfg))
        cfg = point_at_simulator(cfg, simulator.rstrip("/"))
    return cfg


async def _with_engine(cfg: Config, use: Callable[[Any], Coroutine[Any, Any, Any]]) -> Any:
    from monitor.pricing.engine import PricingEngine
    from monitor.service import database_url

    store = Store(database_url(cfg))
    try:
        await asyncio.to_thread(store.upgrade)
        engine = PricingEngine(cfg, store)
        await engine.load()
        try:
            return await use(engine)
        finally:
            if engine.leader:  # a one-shot command must not keep the lease for 2 intervals
                await engine.release()
    finally:
        store.dispose()


@prices_app.command("refresh")
def prices_refresh(
    source: Annotated[str | None, typer.Option("--source", help="One configured source")] = None,
    force: Annotated[
        bool, typer.Option(help="Fetch even if another agent holds the pricing lease")
    ] = False,
    config: ConfigOption = None,
    simulator: SimulatorOption = None,
) -> None:
    """Read the pricing sources now and store what changed; exit 1 if any source failed."""
    setup_logging("WARNING")
    cfg = _prices_config(config, simulator)
    if source is not None and source not in cfg.pricing_sources:
        fail(f"unknown pricing source {source!r}; known: {', '.join(sorted(cfg.pricing_sources))}")

    async def use(engine: Any) -> Any:
        if source is not None:
            return [await engine.refresh(source, force=force)]
        return await engine.refresh_all(force=force)

    try:
        reports = asyncio.run(_with_engine(cfg, use))
    except StoreError as exc:
        fail(str(exc))
    for report in reports:
        if report.skipped:
            out.print(f"{report.source}: skipped ({report.skipped})")
            continue
        moved = [
            f"{j.offering} {j.verdict.value}: {j.reason}"
            for j in report.judgements
            if j.verdict.value != "unchanged"
        ]
        status = "ok" if report.ok else "FAILED"
        out.print(f"{report.source}: {status}, {len(report.pages)} pages", highlight=False)
        for line in [*report.failures, *moved]:
            out.print(f"  {line}", highlight=False)
    raise typer.Exit(0 if all(r.ok or r.skipped for r in reports) else 1)


@prices_app.command("show")
def prices_show(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    config: ConfigOption = None,
    simulator: SimulatorOption = None,
) -> None:
    """Current prices per offering and source, with their age, from the store."""
    setup_logging("WARNING")
    cfg = _prices_config(config, simulator)

    async def use(engine: Any) -> Any:
        return engine.rows_for_show()

    try:
        rows = asyncio.run(_with_engine(cfg, use))
    except StoreError as exc:
        fail(str(exc))
    if as_json:
        from monitor.web import price_row_json

        out.print_json(json.dumps([price_row_json(r) for r in rows]))
        raise typer.Exit(0)
    table = Table(title="Listed prices")
    for column in ("offering", "source", "price (USD)", "unit", "status", "age", "stale"):
        table.add_column(column)
    for r in rows:
        age = "never read" if r.age_seconds is None else f"{r.age_seconds / 3600:.1f} h"
        table.add_row(
            r.offering,
            r.source,
            "" if r.amount is None else str(r.amount),
            r.unit or "",
            r.status,
            age,
            "STALE" if r.stale else "",
        )
    out.print(table)


@prices_app.command("parse")
def prices_parse(
    source: Annotated[str, typer.Argument(help="A configured source name or a source kind")],
    file: Annotated[Path, typer.Argument(help="A saved page or file", exists=True, dir_okay=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    url: Annotated[str, typer.Option(help="Where the page was saved from, if known")] = "",
    config: ConfigOption = None,
) -> None:
    """Parse a saved page with a source's parser and print the quotes it finds (no network)."""
    from monitor.interfaces import PriceParseError
    from monitor.pricing.engine import parse_saved

    cfg = _load(config)
    text = file.read_text(encoding="utf-8", errors="replace")
    try:
        result = parse_saved(cfg, source, text, url=url)
    except KeyError as exc:
        fail(str(exc.args[0]))
    except PriceParseError as exc:
        fail(f"{file}: {exc}")
    quotes = [
        {
            "offering": q.offering,
            "amount": str(q.amount),
            "currency": q.currency,
            "unit": q.unit.value,
            "listed_text": q.listed_text,
            "evidence": q.evidence,
        }
        for q in result.quotes
    ]
    if as_json:
        out.print_json(json.dumps({"quotes": quotes, "removed": result.removed}))
        raise typer.Exit(0)
    table = Table(title=f"{source}: {file.name}")
    for column in ("offering", "price (USD)", "unit", "as listed"):
        table.add_column(column)
    for q in quotes:
        table.add_row(q["offering"], q["amount"], q["unit"], q["listed_text"])
    out.print(table)
    for offering in result.removed:
        out.print(f"removed: {offering}", highlight=False)


@app.command()
def route(
    model: Annotated[str | None, typer.Option(help="One model")] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="json | litellm | openrouter | portkey")
    ] = "json",
    policy: Annotated[PolicyName, typer.Option(help="Routing policy")] = PolicyName.COST,
    config: ConfigOption = None,
) -> None:
    """The current routes, or the routing config for a gateway, from the stored results."""
    setup_logging("WARNING")
    import datetime as dt

    from monitor.exports import FORMATS, render, targets_from_config
    from monitor.health import HealthBook, Sample
    from monitor.interfaces import Phase
    from monitor.pricing.state import PriceBook
    from monitor.routing import RoutingEngine, build_snapshot
    from monitor.service import database_url, health_policy
    from monitor.windows import window_stats

    cfg = _load(config)
    if fmt not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}")
    if model is not None and model not in cfg.models:
        fail(f"unknown model {model!r}; known: {', '.join(sorted(cfg.models))}")
    now = dt.datetime.now(dt.UTC)
    store = Store(database_url(cfg))
    try:
        store.upgrade()
        results = store.recent_results(since=now - dt.timedelta(days=1), limit=100_000)
        # the service's prices: the newest accepted quote of each offering's primary source
        prices = PriceBook(cfg, lambda: now)
        prices.restore(store.latest_price_events(), store.fetch_states())
    except StoreError as exc:
        fail(str(exc))
    finally:
        store.dispose()
    book = HealthBook(health_policy(cfg))
    for r in reversed(results):
        if r.vantage == cfg.vantage and not r.cancelled:
            book.observe(
                r.offering,
                r.vantage,
                Sample(
                    outcome=r.outcome,
                    at=r.started_at,
                    latency_s=r.phases.get(Phase.TOTAL),
                    kind=r.kind.value,
                ),
            )

    offerings = cfg.enabled_offerings()
    engine = RoutingEngine()
    engine.evaluate(
        build_snapshot(
            now,
            offerings,
            current_price=prices.current_price,
            state_of=lambda o: book.get(o, cfg.vantage).state,
            stats=window_stats(results, now, offerings=offerings),
        )
    )
    routes = engine.routes(policy=policy, model=model)
    text = render(
        FORMATS[fmt](routes, targets_from_config(cfg)), "yaml" if fmt == "litellm" else "json"
    )
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Apply database migrations."""
    setup_logging("WARNING")
    cfg = _load(config)
    from monitor.service import database_url

    url = database_url(cfg)
    try:
        Store(url).upgrade()
    except StoreError as exc:
        fail(str(exc))
    out.print(f"database {redact_url(url)} is up to date")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
