"""The store's base: the engine, sessions and the one seam where driver errors become
:class:`StoreError`."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlmodel import Session


class StoreError(Exception):
    """The database could not be reached or used; the message has no credentials."""


#: what "the database is away" looks like from SQLAlchemy: the connection failed or broke
#: (OperationalError, InterfaceError) or the pool could not hand one out in time. Other
#: errors (an integrity violation, a bug) are not outages and are not retried as one.
_OUTAGE = (OperationalError, InterfaceError, sa.exc.TimeoutError)

_P = ParamSpec("_P")
_R = TypeVar("_R")
_S = TypeVar("_S", bound="StoreBase")


def _translated(
    method: Callable[Concatenate[_S, _P], _R],
) -> Callable[Concatenate[_S, _P], _R]:
    """The one seam where driver errors become :class:`StoreError` (as httpx maps
    httpcore's exceptions in one place): every public ``Store`` method wears it, so a
    caller's ``except StoreError`` sees every outage, reads and writes alike. It also keeps
    :attr:`Store.away`: the last outage's one-line reason, cleared by the next success."""

    @functools.wraps(method)
    def wrapper(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            value = method(self, *args, **kwargs)
        except _OUTAGE as exc:
            self.away = self._describe(exc)
            raise StoreError(self.away) from None
        except StoreError as exc:
            self.away = str(exc)
            raise
        self.away = None
        return value

    return wrapper


def default_sqlite_url(data_dir: str | Path) -> str:
    path = Path(data_dir).expanduser().resolve() / "provmon.db"
    return f"sqlite:///{path}"


def redact_url(url: str) -> str:
    """A database URL with any password removed, safe to print."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparseable database URL)"


def _normalise_url(url: str) -> str:
    # PostgreSQL URLs without a driver use psycopg 3, the driver we install
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class StoreBase:
    """The engine and the helpers every group of operations shares."""

    def __init__(self, url: str) -> None:
        self.url = _normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self._write_lock = threading.Lock()
        #: why the database is away (one line, no credentials); None while it answers
        self.away: str | None = None
        if self.is_sqlite:
            path = self.url.removeprefix("sqlite:///")
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = sa.create_engine(
                self.url, connect_args={"check_same_thread": False, "timeout": 30}
            )
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = sa.create_engine(
                self.url,
                pool_pre_ping=True,
                pool_size=5,
                connect_args={"connect_timeout": 10},
            )

    def _describe(self, exc: SQLAlchemyError) -> str:
        orig = getattr(exc, "orig", None) or exc
        first = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
        return f"database {redact_url(self.url)} unavailable: {first}"

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def _sqlite_immediate(self) -> Iterator[sa.Connection]:
        """One SQLite transaction begun with ``BEGIN IMMEDIATE``: its single writer lock,
        held across processes too (and this store's own lock, across threads)."""
        with self._write_lock, self.engine.connect() as conn:
            # AUTOCOMMIT stops pysqlite's own deferred BEGIN, so ours is the one that runs
            conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.exec_driver_sql("ROLLBACK")
                raise
            conn.exec_driver_sql("COMMIT")

    def _upsert(self, table: sa.Table, values: dict[str, Any], key: str, where: Any = None) -> bool:
        """INSERT ... ON CONFLICT (key) DO UPDATE [WHERE ...] on PostgreSQL and SQLite alike;
        True when a row was inserted or updated (False when ``where`` refused)."""
        from sqlalchemy.dialects import postgresql, sqlite

        insert = sqlite.insert if self.is_sqlite else postgresql.insert
        stmt = insert(table).values(**values)
        upsert = stmt.on_conflict_do_update(
            index_elements=[key],
            set_={k: stmt.excluded[k] for k in values if k != key},
            where=where,
        ).returning(table.c[key])
        with self._write_lock, self.engine.begin() as conn:
            # RETURNING, not rowcount: psycopg reports no rowcount for an upsert
            return conn.execute(upsert).first() is not None


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
