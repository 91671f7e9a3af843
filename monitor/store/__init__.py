"""The one module that touches SQL: tables, migrations and small named queries.

SQLite (WAL) under the data directory by default; PostgreSQL through
``PROVMON_DATABASE_URL`` when several agents share one database. Money is stored exactly:
probe costs and spend as integer micro-dollars, listed prices as decimal text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from importlib import resources

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from monitor.interfaces import PriceQuote, ProbeResult
from monitor.store._base import (
    StoreBase,
    StoreError,
    _translated,
    default_sqlite_url,
    redact_url,
)
from monitor.store._history import HistoryStore, PruneReport
from monitor.store._ledger import LedgerStore
from monitor.store._shards import ShardStore
from monitor.store.tables import (
    MICRO,
    BudgetDayRow,
    FetchStateRow,
    HistoryMarkRow,
    IncidentRow,
    LeaseRow,
    PriceQuoteRow,
    ProbeRow,
    RollupRow,
    SpendRow,
    UTCDateTime,
    from_micro,
    result_from_row,
    result_values,
    row_from_result,
    to_micro,
)

__all__ = [
    "MICRO",
    "BudgetDayRow",
    "FetchStateRow",
    "HistoryMarkRow",
    "IncidentRow",
    "LeaseRow",
    "PriceQuoteRow",
    "ProbeRow",
    "PruneReport",
    "RollupRow",
    "SpendRow",
    "Store",
    "StoreBase",
    "StoreError",
    "UTCDateTime",
    "default_sqlite_url",
    "from_micro",
    "redact_url",
    "to_micro",
]


class Store(HistoryStore, LedgerStore, ShardStore):
    """Small named operations over the database. Thread-safe; call from a worker thread.
    Every public operation raises :class:`StoreError` when the database is away."""

    # -- lifecycle ------------------------------------------------------------------------

    @_translated
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

    @_translated
    def check(self) -> None:
        """Raise :class:`StoreError` unless the database answers a trivial query."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise StoreError(self._describe(exc)) from None

    # -- probe results --------------------------------------------------------------------

    @_translated
    def save_result(self, result: ProbeResult) -> bool:
        """Store one result; returns False when it was already stored (same probe_id)."""
        row = row_from_result(result)
        with self._write_lock, self._session() as session:
            exists = session.exec(
                select(ProbeRow.id).where(ProbeRow.probe_id == result.probe_id)
            ).first()
            if exists is not None:
                return False
            session.add(row)
            session.commit()
        return True

    @_translated
    def save_results(self, results: Sequence[ProbeResult]) -> None:
        """Store many results in one transaction (one multi-row ``INSERT``); a result
        already stored (same probe_id, e.g. a retried batch) is skipped, never doubled."""
        if not results:
            return
        from sqlalchemy.dialects import postgresql, sqlite

        insert = sqlite.insert if self.is_sqlite else postgresql.insert
        table = ProbeRow.__table__  # type: ignore[attr-defined]
        stmt = insert(table).on_conflict_do_nothing(index_elements=["probe_id"])
        rows = [result_values(result) for result in results]
        with self._write_lock, self.engine.begin() as conn:
            conn.execute(stmt, rows)

    @_translated
    def recent_results(
        self,
        *,
        offering: str | None = None,
        kind: str | None = None,
        outcome: str | None = None,
        since: dt.datetime | None = None,
        limit: int = 100,
    ) -> list[ProbeResult]:
        # plain rows, not ORM objects: replay reads thousands at start-up (and the
        # backtest every simulated minute), and an ORM object costs as much again
        table = ProbeRow.__table__  # type: ignore[attr-defined]
        query = sa.select(table)
        if offering:
            query = query.where(table.c.offering == offering)
        if kind:
            query = query.where(table.c.kind == kind)
        if outcome:
            query = query.where(table.c.outcome == outcome)
        if since:
            query = query.where(table.c.started_at >= since)
        query = query.order_by(table.c.started_at.desc(), table.c.id.desc())
        with self.engine.connect() as conn:
            rows = conn.execute(query.limit(limit)).all()
        return [result_from_row(row) for row in rows]

    @_translated
    def count_results(self) -> int:
        with self._session() as session:
            return int(session.exec(select(sa.func.count()).select_from(ProbeRow)).one())

    # -- prices ---------------------------------------------------------------------------

    @_translated
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
        with self._write_lock, self._session() as session:
            session.add_all(rows)
            session.commit()

    @_translated
    def price_history(
        self, *, offering: str | None = None, limit: int = 500
    ) -> list[PriceQuoteRow]:
        query = select(PriceQuoteRow)
        if offering:
            query = query.where(PriceQuoteRow.offering == offering)
        query = query.order_by(col(PriceQuoteRow.observed_at).desc(), col(PriceQuoteRow.id).desc())
        with self._session() as session:
            return list(session.exec(query.limit(limit)).all())

    # -- pricing (fetch state, leases, quotes) --------------------------------------------

    @_translated
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

    @_translated
    def release_lease(self, name: str, holder: str) -> None:
        """Give up the lease if ``holder`` holds it (on a clean shutdown)."""
        with self._write_lock, self.engine.begin() as conn:
            conn.execute(
                sa.delete(LeaseRow).where(
                    col(LeaseRow.name) == name, col(LeaseRow.holder) == holder
                )
            )

    @_translated
    def fetch_states(self, *, source: str | None = None) -> list[FetchStateRow]:
        """What the fetcher knows per source URL (validators, last success, last error)."""
        query = select(FetchStateRow)
        if source:
            query = query.where(FetchStateRow.source == source)
        with self._session() as session:
            return list(session.exec(query).all())

    @_translated
    def save_fetch_state(self, row: FetchStateRow) -> None:
        """Insert or replace the fetch state of ``row.url``."""
        table = FetchStateRow.__table__  # type: ignore[attr-defined]
        values = {c.name: getattr(row, c.name) for c in table.columns}
        self._upsert(table, values, "url")

    @_translated
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
        with self._session() as session:
            return list(session.exec(query.order_by(col(PriceQuoteRow.id))).all())

    @_translated
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
        with self._write_lock, self._session() as session:
            session.add(row)
            session.commit()

    # -- budget and incidents -------------------------------------------------------------
