"""What every ``provmon`` command shares: its consoles, the one-line failure, logging,
and the settings checked before a command does anything (config, database, simulator)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from monitor import cli_checks, secrets
from monitor.config import Config, ConfigError, load_config

out = Console()
err = Console(stderr=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Config file (default: the Imagen 4 catalog)")
]
SimulatorOption = Annotated[str | None, typer.Option(help="Aim the catalog at a simulator URL")]


def fail(message: str) -> NoReturn:
    """One line on stderr, exit code 2: the way every fixable problem ends."""
    line = " ".join(secrets.scrub(message).split())
    sys.stderr.write(f"provmon: error: {line}\n")
    raise typer.Exit(2)


def setup_logging(level: str = "INFO") -> None:
    try:
        chosen = cli_checks.log_level(os.environ.get("PROVMON_LOG_LEVEL") or level)
    except cli_checks.SettingError as exc:
        fail(str(exc))
    from monitor.http import backend_name

    try:
        backend_name()  # before anything starts, not at the first probe
    except ValueError as exc:
        fail(str(exc))
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(secrets.ScrubbingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(chosen)
    for noisy in ("httpx", "httpcore", "apscheduler.executors"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # its "skipped: maximum number of running instances" repeats what the scheduler
    # counts (provmon_probes_skipped_total) and logs itself
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)


def database(cfg: Config) -> str:
    """The database the service uses (the same resolution everywhere), checked."""
    from monitor.service import database_url

    try:
        return cli_checks.database_url(
            database_url(cfg), cli_checks.setting_of_database(cfg.database_url)
        )
    except cli_checks.SettingError as exc:
        fail(str(exc))


def simulator(value: str) -> str:
    try:
        return cli_checks.simulator_url(value)
    except cli_checks.SettingError as exc:
        fail(str(exc))


def load(path: Path | None) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        where = str(path) if path else "default catalog"
        lines = [line.removeprefix(f"{where}: ") for line in str(exc).splitlines()]
        fail(f"invalid config {where}: " + "; ".join(lines))
