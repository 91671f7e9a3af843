"""``provmon prices ...``: read the pricing sources now, show current prices, parse a page."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from monitor.cli_common import (
    ConfigOption,
    SimulatorOption,
    database,
    fail,
    load,
    out,
    setup_logging,
)
from monitor.cli_common import simulator as simulator_url
from monitor.config import Config, point_at_simulator, simulator_credentials
from monitor.store import Store, StoreError

prices_app = typer.Typer(
    help="Listed prices: read the sources now, show them, parse a saved page.",
    no_args_is_help=True,
)


def _prices_config(config: Path | None, simulator: str | None) -> Config:
    cfg = load(config)
    if simulator:
        os.environ.update(simulator_credentials(cfg))
        cfg = point_at_simulator(cfg, simulator_url(simulator))
    return cfg


async def _with_engine(cfg: Config, use: Callable[[Any], Coroutine[Any, Any, Any]]) -> Any:
    from monitor.pricing.engine import PricingEngine

    store = Store(database(cfg))
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
    table = Table(title="Listed prices", box=box.SIMPLE_HEAD, pad_edge=False)
    # offering ids are what a person copies: never cut one; other columns fold, not "…"
    widest = max((len(r.offering) for r in rows), default=8)
    table.add_column("offering", no_wrap=True, min_width=widest)
    for column in ("source", "USD", "unit", "status", "age", "stale"):
        table.add_column(column, overflow="fold")
    for r in rows:
        age = "never" if r.age_seconds is None else f"{r.age_seconds / 3600:.1f} h"
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

    cfg = load(config)
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
