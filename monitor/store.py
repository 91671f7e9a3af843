"""The one module that touches SQL: tables, migrations and small named queries.

SQLite (WAL) under the data directory by default; PostgreSQL through
``PROVMON_DATABASE_URL`` when several agents share one database. Money is stored exactly:
probe costs and spend as integer micro-dollars, listed prices as decimal text.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlmodel import Field, Session, SQLModel, col, select

from monitor.interfaces import ImageInfo, Kind, Outcome, Phase, PriceQuote, ProbeResult, Usage

MICRO = Decimal("0.000001")


class StoreError(Exception):
    """The database could not be reached or used; the message has no credentials."""


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _ts(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


class ProbeRow(SQLModel, table=True):
    __tablename__ = "probe_results"
    # recent results per offering (/api/probes, health replay at start)
    __table_args__ = (sa.Index("ix_probe_results_offering_started", "offering", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    #: unique so that a buffered retry of the same result never stores it twice
    probe_id: str = Field(max_length=36, unique=True)
    offering: str = Field(max_length=200)
    provider: str = Field(max_length=100)
    model: str = Field(max_length=150)
    vantage: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    outcome: str = Field(max_length=32, index=True)
    failed_phase: str | None = Field(default=None, max_length=16)
    started_at: dt.datetime = _ts(index=True)
    connect_s: float | None = None
    ttfb_s: float | None = None
    queue_s: float | None = None
    inference_s: float | None = None
    download_s: float | None = None
    total_s: float | None = None
    http_status: int | None = None
    provider_request_id: str | None = Field(default=None, max_length=200)
    image_mime: str | None = Field(default=None, max_length=64)
    image_width: int | None = None
    image_height: int | None = None
    image_bytes: int | None = None
    cost_micro_usd: int = 0
    error: str | None = Field(default=None, max_length=2000)
    retry_after_s: float | None = None
    cancelled: bool = False
    #: the usage the answer reported, as compact JSON (``Usage.as_dict``)
    usage_json: str | None = Field(default=None, max_length=1000)
    measured_cost_micro_usd: int | None = None
    served_model: str | None = Field(default=None, max_length=200)


class PriceQuoteRow(SQLModel, table=True):
    __tablename__ = "price_quotes"
    # price history of one offering, newest first (/api/prices, change detection)
    __table_args__ = (sa.Index("ix_price_quotes_offering_observed", "offering", "observed_at"),)

    id: int | None = Field(default=None, primary_key=True)
    offering: str = Field(max_length=200)
    source: str = Field(max_length=100, index=True)
    amount: str = Field(max_length=40)
    currency: str = Field(max_length=8)
    unit: str = Field(max_length=32)
    observed_at: dt.datetime = _ts()
    source_url: str = Field(default="", max_length=1000)
    evidence: str = Field(default="", max_length=4000)
    content_hash: str = Field(default="", max_length=64)
    status: str = Field(default="accepted", max_length=16)


class SpendRow(SQLModel, table=True):
    """The probe budget's ledger: one row per paid probe, reserved then settled."""

    __tablename__ = "probe_spend"
    # today's reserved and settled spend (budget check before every paid probe)
    __table_args__ = (sa.Index("ix_probe_spend_day_offering", "day", "offering"),)

    id: int | None = Field(default=None, primary_key=True)
    reservation_id: str = Field(max_length=36, unique=True)
    day: dt.date
    offering: str = Field(max_length=200)
    provider: str = Field(max_length=100)
    agent: str = Field(max_length=100)
    amount_micro_usd: int
    state: str = Field(max_length=16)  # reserved | settled | released
    created_at: dt.datetime = _ts()
    settled_at: dt.datetime | None = _ts(default=None)


class FetchStateRow(SQLModel, table=True):
    """What the pricing fetcher knows about one source URL between refreshes."""

    __tablename__ = "price_fetch_state"

    url: str = Field(primary_key=True, max_length=1000)
    source: str = Field(max_length=100, index=True)
    etag: str | None = Field(default=None, max_length=300)
    last_modified: str | None = Field(default=None, max_length=100)
    content_hash: str | None = Field(default=None, max_length=64)
    last_attempt_at: dt.datetime | None = _ts(default=None)
    last_success_at: dt.datetime | None = _ts(default=None)
    last_error: str | None = Field(default=None, max_length=1000)
    consecutive_failures: int = 0


class LeaseRow(SQLModel, table=True):
    """A named lease, so that one agent of a deployment does a shared job (price fetching)."""

    __tablename__ = "leases"

    name: str = Field(primary_key=True, max_length=100)
    holder: str = Field(max_length=200)
    expires_at: dt.datetime = _ts()


class IncidentRow(SQLModel, table=True):
    """A period an offering spent out of ``up``: opened on the change, closed on recovery."""

    __tablename__ = "incidents"
    # open incidents and the recent history of one offering (/api/incidents)
    __table_args__ = (sa.Index("ix_incidents_offering_started", "offering", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    offering: str = Field(max_length=200)
    vantage: str = Field(max_length=64)
    state: str = Field(max_length=16)
    reason: str = Field(default="", max_length=1000)
    started_at: dt.datetime = _ts()
    ended_at: dt.datetime | None = _ts(default=None)


def to_micro(amount: Decimal) -> int:
    return int((amount / MICRO).to_integral_value())


def from_micro(value: int) -> Decimal:
    return (Decimal(value) * MICRO).normalize()


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


class Store:
    """Small named operations over the database. Thread-safe; call from a worker thread."""

    def __init__(self, url: str) -> None:
        self.url = _normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self._write_lock = threading.Lock()
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

    # -- lifecycle ------------------------------------------------------------------------

    def upgrade(self) -> None:
        """Apply Alembic migrations up to head."""
        from alembic import command
        from alembic.config import Config as AlembicConfig

        cfg = AlembicConfig()
        cfg.set_main_option(
            "script_location", str(resources.files("monitor").joinpath("migrations"))
        )
        cfg.attributes["engine"] = self.engine
        try:
            command.upgrade(cfg, "head")
        except SQLAlchemyError as exc:
            raise StoreError(self._describe(exc)) from None

    def check(self) -> None:
        """Raise :class:`StoreError` unless the database answers a trivial query."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise StoreError(self._describe(exc)) from None

    def _describe(self, exc: SQLAlchemyError) -> str:
        orig = getattr(exc, "orig", None) or exc
        first = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
        return f"database {redact_url(self.url)} unavailable: {first}"

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    # -- probe results --------------------------------------------------------------------

    def save_result(self, result: ProbeResult) -> bool:
        """Store one result; returns False when it was already stored (same probe_id)."""
        row = _row_from_result(result)
        try:
            with self._write_lock, self.session() as session:
                exists = session.exec(
                    select(ProbeRow.id).where(ProbeRow.probe_id == result.probe_id)
                ).first()
                if exists is not None:
                    return False
                session.add(row)
                session.commit()
        except (OperationalError, InterfaceError) as exc:
            raise StoreError(self._describe(exc)) from None
        return True

    def recent_results(
        self,
        *,
        offering: str | None = None,
        kind: str | None = None,
        outcome: str | None = None,
        since: dt.datetime | None = None,
        limit: int = 100,
    ) -> list[ProbeResult]:
        query = select(ProbeRow)
        if offering:
            query = query.where(ProbeRow.offering == offering)
        if kind:
            query = query.where(ProbeRow.kind == kind)
        if outcome:
            query = query.where(ProbeRow.outcome == outcome)
        if since:
            query = query.where(ProbeRow.started_at >= since)
        query = query.order_by(col(ProbeRow.started_at).desc(), col(ProbeRow.id).desc())
        with self.session() as session:
            rows = session.exec(query.limit(limit)).all()
        return [_result_from_row(row) for row in rows]

    def count_results(self) -> int:
        with self.session() as session:
            return int(session.exec(select(sa.func.count()).select_from(ProbeRow)).one())

    # -- prices ---------------------------------------------------------------------------

    def save_quotes(
        self, quotes: Sequence[PriceQuote], *, content_hash: str = "", status: str = "accepted"
    ) -> None:
        rows = [
            PriceQuoteRow(
                offering=q.offering,
                source=q.source,
                amount=str(q.amount),
                currency=q.currency,
                unit=str(q.unit),
                observed_at=q.observed_at,
                source_url=q.source_url,
                evidence=q.evidence[:4000],
                content_hash=content_hash,
                status=status,
            )
            for q in quotes
        ]
        with self._write_lock, self.session() as session:
            session.add_all(rows)
            session.commit()

    def price_history(
        self, *, offering: str | None = None, limit: int = 500
    ) -> list[PriceQuoteRow]:
        query = select(PriceQuoteRow)
        if offering:
            query = query.where(PriceQuoteRow.offering == offering)
        query = query.order_by(col(PriceQuoteRow.observed_at).desc(), col(PriceQuoteRow.id).desc())
        with self.session() as session:
            return list(session.exec(query.limit(limit)).all())

    # -- pricing (fetch state, leases, quotes) --------------------------------------------

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
        try:
            with self._write_lock, self.engine.begin() as conn:
                # RETURNING, not rowcount: psycopg reports no rowcount for an upsert
                return conn.execute(upsert).first() is not None
        except (OperationalError, InterfaceError) as exc:
            raise StoreError(self._describe(exc)) from None

    def take_lease(self, name: str, holder: str, *, now: dt.datetime, ttl: dt.timedelta) -> bool:
        """Take or renew the lease ``name`` until ``now + ttl``, atomically; True when
        ``holder`` holds it afterwards (it was free, expired, or already ``holder``'s)."""
        table = LeaseRow.__table__  # type: ignore[attr-defined]
        # a plain comparison in SQL: both sides go through UTCDateTime, so SQLite's text
        # timestamps compare in time order too
        where = (table.c.expires_at < sa.bindparam("now", now, type_=UTCDateTime)) | (
            table.c.holder == holder
        )
        values = {"name": name, "holder": holder, "expires_at": now + ttl}
        return self._upsert(table, values, "name", where)

    def release_lease(self, name: str, holder: str) -> None:
        """Give up the lease if ``holder`` holds it (on a clean shutdown)."""
        with self._write_lock, self.engine.begin() as conn:
            conn.execute(
                sa.delete(LeaseRow).where(
                    col(LeaseRow.name) == name, col(LeaseRow.holder) == holder
                )
            )

    def fetch_states(self, *, source: str | None = None) -> list[FetchStateRow]:
        """What the fetcher knows per source URL (validators, last success, last error)."""
        query = select(FetchStateRow)
        if source:
            query = query.where(FetchStateRow.source == source)
        with self.session() as session:
            return list(session.exec(query).all())

    def save_fetch_state(self, row: FetchStateRow) -> None:
        """Insert or replace the fetch state of ``row.url``."""
        table = FetchStateRow.__table__  # type: ignore[attr-defined]
        values = {c.name: getattr(row, c.name) for c in table.columns}
        self._upsert(table, values, "url")

    def latest_price_events(self) -> list[PriceQuoteRow]:
        """The newest row per (offering, source, status, unit): the last ``accepted``, ``held``
        and ``removed`` of each (per unit: token-priced offerings have several), from which
        the pricing engine rebuilds its state at start."""
        newest = (
            select(sa.func.max(PriceQuoteRow.id))
            .group_by(
                col(PriceQuoteRow.offering),
                col(PriceQuoteRow.source),
                col(PriceQuoteRow.status),
                col(PriceQuoteRow.unit),
            )
            .scalar_subquery()
        )
        query = select(PriceQuoteRow).where(col(PriceQuoteRow.id).in_(newest))
        with self.session() as session:
            return list(session.exec(query.order_by(col(PriceQuoteRow.id))).all())

    def save_price_removed(
        self,
        *,
        offering: str,
        source: str,
        observed_at: dt.datetime,
        source_url: str,
        evidence: str,
        content_hash: str,
    ) -> None:
        """Record that a source shows an offering as gone: a ``removed`` row, no amount."""
        row = PriceQuoteRow(
            offering=offering,
            source=source,
            amount="",
            currency="",
            unit="",
            observed_at=observed_at,
            source_url=source_url[:1000],
            evidence=evidence[:4000],
            content_hash=content_hash,
            status="removed",
        )
        with self._write_lock, self.session() as session:
            session.add(row)
            session.commit()

    # -- budget and incidents -------------------------------------------------------------

    @contextmanager
    def _budget_lock(self, day: dt.date, now: dt.datetime) -> Iterator[sa.Connection]:
        """One transaction holding the day's budget lock: ``SELECT ... FOR UPDATE`` of the
        day's row on PostgreSQL (every agent sharing the database queues on it, and READ
        COMMITTED reads taken after it see every earlier reservation), ``BEGIN IMMEDIATE``
        on SQLite (its single writer lock, held across processes too)."""
        if self.is_sqlite:
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
            return
        from sqlalchemy.dialects import postgresql

        days = BudgetDayRow.__table__  # type: ignore[attr-defined]
        with self.engine.begin() as conn:
            conn.execute(
                postgresql.insert(days)
                .values(day=day, created_at=now)
                .on_conflict_do_nothing(index_elements=["day"])
            )
            conn.execute(sa.select(days.c.day).where(days.c.day == day).with_for_update())
            yield conn

    def reserve_spend(
        self,
        *,
        reservation_id: str,
        day: dt.date,
        offering: str,
        provider: str,
        agent: str,
        amount_micro: int,
        global_cap_micro: int | None,
        offering_cap_micro: int | None,
        now: dt.datetime,
        expire_before: dt.datetime,
    ) -> tuple[int, int] | None:
        """Atomically (under the day's budget lock): settle reservations older than
        ``expire_before`` as spent, then insert this one unless the day's reserved plus
        settled spend would pass a cap. Returns (global, offering) spend including it, or
        None when refused."""
        spend = SpendRow.__table__  # type: ignore[attr-defined]
        live = (spend.c.day == day) & (spend.c.state != "released")
        total = sa.func.coalesce(sa.func.sum(spend.c.amount_micro_usd), 0)
        try:
            with self._budget_lock(day, now) as conn:
                conn.execute(
                    sa.update(spend)
                    .where(spend.c.state == "reserved", spend.c.created_at < expire_before)
                    .values(state="settled", settled_at=now)
                )
                spent_all = int(conn.execute(sa.select(total).where(live)).scalar_one())
                spent_one = int(
                    conn.execute(
                        sa.select(total).where(live & (spend.c.offering == offering))
                    ).scalar_one()
                )
                if global_cap_micro is not None and spent_all + amount_micro > global_cap_micro:
                    return None
                if offering_cap_micro is not None and spent_one + amount_micro > offering_cap_micro:
                    return None
                conn.execute(
                    sa.insert(spend).values(
                        reservation_id=reservation_id,
                        day=day,
                        offering=offering,
                        provider=provider,
                        agent=agent,
                        amount_micro_usd=amount_micro,
                        state="reserved",
                        created_at=now,
                    )
                )
                return spent_all + amount_micro, spent_one + amount_micro
        except (OperationalError, InterfaceError) as exc:
            raise StoreError(self._describe(exc)) from None

    def settle_spend(self, reservation_id: str, *, billed: bool, now: dt.datetime) -> bool:
        """``reserved`` -> ``settled`` (billed) or ``released``; False when the reservation
        is unknown or no longer ``reserved`` (an expired one stays spent)."""
        spend = SpendRow.__table__  # type: ignore[attr-defined]
        stmt = (
            sa.update(spend)
            .where(spend.c.reservation_id == reservation_id, spend.c.state == "reserved")
            .values(state="settled" if billed else "released", settled_at=now)
        )
        try:
            with self._write_lock, self.engine.begin() as conn:
                return int(conn.execute(stmt).rowcount) == 1
        except (OperationalError, InterfaceError) as exc:
            raise StoreError(self._describe(exc)) from None

    def spend_by_offering(self, day: dt.date) -> dict[str, int]:
        """Reserved plus settled micro-dollars of ``day``, per offering."""
        query = (
            select(SpendRow.offering, sa.func.sum(SpendRow.amount_micro_usd))
            .where(SpendRow.day == day, SpendRow.state != "released")
            .group_by(col(SpendRow.offering))
        )
        with self.session() as session:
            return {offering: int(amount) for offering, amount in session.exec(query).all()}

    def spend_rows(self, day: dt.date) -> list[SpendRow]:
        """The ledger of one day, oldest first."""
        query = select(SpendRow).where(SpendRow.day == day).order_by(col(SpendRow.id))
        with self.session() as session:
            return list(session.exec(query).all())

    def save_incident_events(self, events: Sequence[Any]) -> None:
        """Apply ``monitor.health.IncidentEvent`` values in order: a close ends the open
        incident of that (offering, vantage); an open starts a new one."""
        table = IncidentRow.__table__  # type: ignore[attr-defined]
        with self._write_lock, self.engine.begin() as conn:
            for event in events:
                if event.action == "close":
                    conn.execute(
                        sa.update(table)
                        .where(
                            table.c.offering == event.offering,
                            table.c.vantage == event.vantage,
                            table.c.ended_at.is_(None),
                        )
                        .values(ended_at=event.at)
                    )
                else:
                    conn.execute(
                        sa.insert(table).values(
                            offering=event.offering,
                            vantage=event.vantage,
                            state=str(event.state),
                            reason=event.reason[:1000],
                            started_at=event.at,
                        )
                    )

    def incidents(
        self,
        *,
        offering: str | None = None,
        open_only: bool = False,
        since: dt.datetime | None = None,
        limit: int = 100,
    ) -> list[IncidentRow]:
        """Incidents, newest first; ``since`` keeps those still open or ended after it."""
        query = select(IncidentRow)
        if offering:
            query = query.where(IncidentRow.offering == offering)
        if open_only:
            query = query.where(col(IncidentRow.ended_at).is_(None))
        if since:
            query = query.where(
                col(IncidentRow.ended_at).is_(None) | (col(IncidentRow.ended_at) >= since)
            )
        query = query.order_by(col(IncidentRow.started_at).desc(), col(IncidentRow.id).desc())
        with self.session() as session:
            return list(session.exec(query.limit(limit)).all())


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


_PHASE_COLUMNS = {
    Phase.CONNECT: "connect_s",
    Phase.TTFB: "ttfb_s",
    Phase.QUEUE: "queue_s",
    Phase.INFERENCE: "inference_s",
    Phase.DOWNLOAD: "download_s",
    Phase.TOTAL: "total_s",
}


def _row_from_result(result: ProbeResult) -> ProbeRow:
    image = result.image
    row = ProbeRow(
        probe_id=result.probe_id,
        offering=result.offering,
        provider=result.provider,
        model=result.model,
        vantage=result.vantage,
        kind=str(result.kind),
        outcome=str(result.outcome),
        failed_phase=str(result.failed_phase) if result.failed_phase else None,
        started_at=result.started_at,
        http_status=result.http_status,
        provider_request_id=(result.provider_request_id or None)
        and result.provider_request_id[:200],
        image_mime=image.mime if image else None,
        image_width=image.width if image else None,
        image_height=image.height if image else None,
        image_bytes=image.size_bytes if image else None,
        cost_micro_usd=to_micro(result.cost_usd),
        error=result.error[:2000] if result.error else None,
        retry_after_s=result.retry_after_s,
        cancelled=result.cancelled,
        usage_json=json.dumps(result.usage.as_dict(), separators=(",", ":"))
        if result.usage
        else None,
        measured_cost_micro_usd=None
        if result.measured_cost_usd is None
        else to_micro(result.measured_cost_usd),
        served_model=result.served_model[:200] if result.served_model else None,
    )
    for phase, column in _PHASE_COLUMNS.items():
        if phase in result.phases:
            setattr(row, column, result.phases[phase])
    return row


def _result_from_row(row: ProbeRow) -> ProbeResult:
    phases = {
        phase: getattr(row, column)
        for phase, column in _PHASE_COLUMNS.items()
        if getattr(row, column) is not None
    }
    image = None
    if row.image_mime and row.image_width and row.image_height:
        image = ImageInfo(
            mime=row.image_mime,
            width=row.image_width,
            height=row.image_height,
            size_bytes=row.image_bytes or 0,
        )
    return ProbeResult(
        probe_id=row.probe_id,
        offering=row.offering,
        provider=row.provider,
        model=row.model,
        vantage=row.vantage,
        kind=Kind(row.kind),
        outcome=Outcome(row.outcome),
        started_at=row.started_at,
        phases=phases,
        failed_phase=Phase(row.failed_phase) if row.failed_phase else None,
        http_status=row.http_status,
        provider_request_id=row.provider_request_id,
        image=image,
        cost_usd=from_micro(row.cost_micro_usd),
        error=row.error,
        retry_after_s=row.retry_after_s,
        cancelled=row.cancelled,
        usage=Usage.from_dict(json.loads(row.usage_json)) if row.usage_json else None,
        measured_cost_usd=None
        if row.measured_cost_micro_usd is None
        else from_micro(row.measured_cost_micro_usd),
        served_model=row.served_model,
    )


# -- budget and incidents ---------------------------------------------------------------------


class BudgetDayRow(SQLModel, table=True):
    """One row per UTC day: the lock every reservation of that day takes (PostgreSQL)."""

    __tablename__ = "probe_budget_days"

    day: dt.date = Field(primary_key=True)
    created_at: dt.datetime = _ts()
