"""``provmon catalog ...``: compare the catalog with the providers' own model listings."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from monitor.cli_common import fail, load, setup_logging
from monitor.cli_common import simulator as simulator_url
from monitor.config import point_at_simulator, simulator_credentials
from monitor.discovery import Discovery, as_json, discover, snippet

catalog_app = typer.Typer(
    help="The catalog against the providers' own model listings.", no_args_is_help=True
)


@catalog_app.command("discover")
def discover_command(
    provider: Annotated[
        list[str] | None, typer.Option("--provider", "-p", help="Only this provider (repeatable)")
    ] = None,
    as_json_flag: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    simulator: Annotated[
        str | None, typer.Option(help="Aim the catalog at a simulator URL")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Config file (default: the catalog)")
    ] = None,
) -> None:
    """List unlisted catalog offerings (suspect retired) and new image models (free calls)."""
    from monitor.runner import Runner

    setup_logging("WARNING")
    cfg = load(config)
    if simulator:
        os.environ.update(simulator_credentials(cfg))
        cfg = point_at_simulator(cfg, simulator_url(simulator))
    wanted = provider or sorted(cfg.providers)
    unknown = [p for p in wanted if p not in cfg.providers]
    if unknown:
        fail(f"unknown provider {unknown[0]!r}; known: {', '.join(sorted(cfg.providers))}")
    offerings = [o for o in cfg.enabled_offerings() if cfg.provider_of(o) in wanted]
    missing = cfg.missing_credentials_for(offerings)
    if missing:
        fail("missing credential: " + "; ".join(missing))

    async def main() -> list[Discovery]:
        runner = Runner(cfg)
        try:
            return await discover(cfg, runner, wanted)
        finally:
            await runner.aclose()

    found = asyncio.run(main())
    for discovery in found:
        if discovery.error:
            sys.stderr.write(f"provmon: {discovery.provider}: {discovery.error}\n")
    if as_json_flag:
        sys.stdout.write(json.dumps(as_json(found)) + "\n")
    else:
        _print(found, snippet(cfg, found))
    failed = [d for d in found if d.error and d.has_listing]
    raise typer.Exit(1 if failed and len(failed) == len(found) else 0)


def _print(found: list[Discovery], yaml_text: str) -> None:
    for discovery in found:
        if not discovery.has_listing:
            print(f"{discovery.provider}: no model listing")
            continue
        if discovery.error:
            continue
        print(f"{discovery.provider}: {len(discovery.unlisted)} unlisted, {len(discovery.new)} new")
        for offering in discovery.unlisted:
            print(f"  unlisted (suspect retired): {offering}")
        for listed in discovery.new:
            price = "" if listed.price_usd is None else f" (${listed.price_usd} per image)"
            print(f"  new image model: {listed.model}{price}")
        for listed in discovery.flagged:
            when = listed.shutdown_at.date().isoformat() if listed.shutdown_at else "no date"
            print(f"  listed as deprecated: {listed.model} (shutdown {when})")
    if yaml_text:
        print("\n# YAML that would add the new models (check prices and sizes):")
        print(yaml_text, end="")
