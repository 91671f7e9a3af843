"""Operator settings checked before anything starts: each mistake becomes one line naming
the setting (``provmon: error: ...``, exit 2), never a traceback from deep inside.

Pure checks over strings and the filesystem; the CLI decides what to do with a problem.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import sqlalchemy as sa

from monitor.secrets import redact_url

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
#: database backends provmon's store and migrations are tested on
BACKENDS = ("postgresql", "sqlite")


class SettingError(Exception):
    """A setting a person must fix; ``str()`` is one line naming it."""


def log_level(value: str) -> int:
    """``PROVMON_LOG_LEVEL`` as a logging level."""
    name = value.strip().lower()
    if name not in LOG_LEVELS:
        raise SettingError(f"PROVMON_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
    return int(logging.getLevelNamesMapping()[name.upper()])


def setting_of_database(config_url: str | None) -> str:
    """Which setting chose the database, for an error to name."""
    if os.environ.get("PROVMON_DATABASE_URL"):
        return "PROVMON_DATABASE_URL"
    if config_url:
        return "database_url (config)"
    return "PROVMON_DATA_DIR" if os.environ.get("PROVMON_DATA_DIR") else "data_dir (config)"


def database_url(url: str, setting: str) -> str:
    """``url`` if provmon can keep its data there; :class:`SettingError` otherwise."""
    try:
        parsed = sa.engine.make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        raise SettingError(
            f"{setting} is not a database URL "
            "(e.g. postgresql://user@host/provmon or sqlite:////var/lib/provmon/provmon.db)"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in BACKENDS:
        raise SettingError(
            f"{setting} names an unsupported database {backend!r}: "
            f"provmon supports {' and '.join(BACKENDS)}"
        )
    if backend == "sqlite":
        path = parsed.database or ""
        if path in ("", ":memory:") or path.startswith("file::memory:"):
            raise SettingError(
                f"{setting} is an in-memory SQLite database: nothing would be kept "
                "(give a file, e.g. sqlite:////var/lib/provmon/provmon.db)"
            )
        writable_dir(Path(path).expanduser().parent, setting)
    return url


def writable_dir(folder: Path, setting: str) -> None:
    """Create ``folder`` if needed and prove provmon can write in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".provmon-write-check-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SettingError(f"{setting} {folder}: cannot write there: {reason}") from None


def simulator_url(value: str) -> str:
    """``--simulator``: an http(s) URL of a running simulator, without a trailing slash."""
    if not re.match(r"^https?://[A-Za-z0-9.\-\[\]:]+(/\S*)?$", value.strip()):
        raise SettingError(
            "--simulator must be the simulator's http(s) URL, e.g. http://127.0.0.1:8787"
        )
    return value.strip().rstrip("/")


def describe(url: str) -> str:
    """The database for a banner or a message: never its password."""
    return redact_url(url)
