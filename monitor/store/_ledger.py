"""The store's budget ledger and incident log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from monitor.store._base import StoreBase, _translated
from monitor.store.tables import BudgetDayRow, IncidentRow, SpendRow


class LedgerStore(StoreBase):
    """Budget reservations (under a per-day lock) and incidents."""

    @contextmanager
    def _budget_lock(self, day: dt.date, now: dt.datetime) -> Iterator[sa.Connection]:
        """One transaction holding the day's budget lock: ``SELECT ... FOR UPDATE`` of the
        day's row on PostgreSQL (every agent sharing the database queues on it, and READ
        COMMITTED reads taken after it see every earlier reservation), ``BEGIN IMMEDIATE``
        on SQLite (its single writer lock, held across processes too)."""
        if self.is_sqlite:
            with self._sqlite_immediate() as conn:
                yield conn
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

    @_translated
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
        expire_overrides: Mapping[str, dt.datetime] | None = None,
    ) -> tuple[int, int] | None:
        """Atomically (under the day's budget lock): settle reservations older than
        ``expire_before`` (``expire_overrides[offering]`` for the offerings listed there:
        one UPDATE per distinct time, few in practice) as spent, then insert this one unless
        the day's reserved plus settled spend would pass a cap. Returns (global, offering)
        spend including it, or None when refused."""
        spend = SpendRow.__table__  # type: ignore[attr-defined]
        live = (spend.c.day == day) & (spend.c.state != "released")
        total = sa.func.coalesce(sa.func.sum(spend.c.amount_micro_usd), 0)
        groups: dict[dt.datetime, list[str]] = {}
        for name, before in (expire_overrides or {}).items():
            groups.setdefault(before, []).append(name)
        expired = (spend.c.state == "reserved") & (spend.c.created_at < expire_before)
        if groups:
            expired &= spend.c.offering.not_in([o for names in groups.values() for o in names])
        sweeps = [expired] + [
            (spend.c.state == "reserved")
            & spend.c.offering.in_(names)
            & (spend.c.created_at < before)
            for before, names in groups.items()
        ]
        with self._budget_lock(day, now) as conn:
            for where in sweeps:
                conn.execute(sa.update(spend).where(where).values(state="settled", settled_at=now))
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

    @_translated
    def settle_spend(self, reservation_id: str, *, billed: bool, now: dt.datetime) -> bool:
        """``reserved`` -> ``settled`` (billed) or ``released``; False when the reservation
        is unknown or no longer ``reserved`` (an expired one stays spent)."""
        spend = SpendRow.__table__  # type: ignore[attr-defined]
        stmt = (
            sa.update(spend)
            .where(spend.c.reservation_id == reservation_id, spend.c.state == "reserved")
            .values(state="settled" if billed else "released", settled_at=now)
        )
        with self._write_lock, self.engine.begin() as conn:
            return int(conn.execute(stmt).rowcount) == 1

    @_translated
    def spend_by_offering(self, day: dt.date) -> dict[str, int]:
        """Reserved plus settled micro-dollars of ``day``, per offering."""
        query = (
            select(SpendRow.offering, sa.func.sum(SpendRow.amount_micro_usd))
            .where(SpendRow.day == day, SpendRow.state != "released")
            .group_by(col(SpendRow.offering))
        )
        with self._session() as session:
            return {offering: int(amount) for offering, amount in session.exec(query).all()}

    @_translated
    def spend_rows(self, day: dt.date) -> list[SpendRow]:
        """The ledger of one day, oldest first."""
        query = select(SpendRow).where(SpendRow.day == day).order_by(col(SpendRow.id))
        with self._session() as session:
            return list(session.exec(query).all())

    @_translated
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

    @_translated
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
        with self._session() as session:
            return list(session.exec(query.limit(limit)).all())
