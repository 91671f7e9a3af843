"""``provmon db prune``: the retention policy, applied now (the service also applies it on
its own, every ``retention.prune_interval_seconds``)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer

from monitor.cli_common import ConfigOption, fail, out, setup_logging
from monitor.cli_common import database as _database
from monitor.cli_common import load as _load
from monitor.secrets import redact_url
from monitor.store import Store, StoreError


def db_prune(
    config: ConfigOption = None,
    raw_days: Annotated[
        float | None,
        typer.Option(min=2, help="Keep raw results this many days (default: retention.raw_days)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was done as JSON")] = False,
) -> None:
    """Roll up complete hours, then delete raw results older than the retention."""
    setup_logging("WARNING")
    cfg = _load(config)
    url = _database(cfg)
    days = raw_days if raw_days is not None else cfg.retention.raw_days
    store = Store(url)
    try:
        store.upgrade()
        report = store.prune(dt.datetime.now(dt.UTC), raw_days=days)
    except StoreError as exc:
        fail(str(exc))
    finally:
        store.dispose()
    if as_json:
        done = {
            "hours_rolled": report.hours_rolled,
            "rows_deleted": report.rows_deleted,
            "pruned_through": report.pruned_through.isoformat(),
            "raw_days": days,
        }
        out.print_json(json.dumps(done))
        return
    out.print(
        f"database {redact_url(url)}: {report.hours_rolled} hours rolled up, "
        f"{report.rows_deleted} raw results older than {days:g} days deleted",
        soft_wrap=True,
    )
