"""``provmon``: the command line. Every failure a person can fix is one line and exit code 2."""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from monitor import cli_checks, cli_db
from monitor.cli_catalog import catalog_app
from monitor.cli_common import ConfigOption, err, fail, out, setup_logging
from monitor.cli_common import database as _database
from monitor.cli_common import load as _load
from monitor.cli_common import simulator as _simulator
from monitor.cli_prices import prices_app
from monitor.cli_serve import demo, run_async, serve_service
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
db_app.command("prune")(cli_db.db_prune)
# the demo lives in monitor/cli_serve.py beside the serving loop it shares with `run`
app.command()(demo)


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

    raise typer.Exit(run_async(lambda: serve_service(cfg, url, seconds=None, banner=banner)))


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
