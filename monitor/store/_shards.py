"""Lease rows for agents that split a vantage's offerings (``monitor.shards`` decides).

Uses the ``leases`` table of price fetching; no schema change. Every operation is one
transaction, so a round of renewals and takes costs one round trip per call.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa

from monitor.store._base import StoreBase, _translated
from monitor.store.tables import LeaseRow, UTCDateTime


class ShardStore(StoreBase):
    @_translated
    def leases_named(self, prefix: str) -> list[tuple[str, str, dt.datetime]]:
        """``(name, holder, expires_at)`` of every lease whose name starts with ``prefix``."""
        table = LeaseRow.__table__  # type: ignore[attr-defined]
        query = sa.select(table.c.name, table.c.holder, table.c.expires_at).where(
            table.c.name.startswith(prefix, autoescape=True)
        )
        with self.engine.connect() as conn:
            return [(r[0], r[1], r[2]) for r in conn.execute(query)]

    @_translated
    def claim_leases(
        self, names: Sequence[str], holder: str, *, now: dt.datetime, ttl: dt.timedelta
    ) -> dict[str, tuple[str, dt.datetime] | None]:
        """Take or renew each lease that is free, expired or already ``holder``'s, until
        ``now + ttl``, in one transaction (rows locked on PostgreSQL). Returns, for each
        lease now held, its previous ``(holder, expires_at)`` (None: it never existed)."""
        if not names:
            return {}
        table = LeaseRow.__table__  # type: ignore[attr-defined]
        if self.is_sqlite:
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
        held: dict[str, tuple[str, dt.datetime] | None] = {}
        until = now + ttl
        with self._write_lock, self.engine.begin() as conn:
            query = sa.select(table.c.name, table.c.holder, table.c.expires_at).where(
                table.c.name.in_(list(names))
            )
            if not self.is_sqlite:
                query = query.with_for_update()
            rows = {r[0]: (r[1], r[2]) for r in conn.execute(query)}
            for name in names:
                before = rows.get(name)
                if before is None:
                    # a concurrent first insert wins; we then hold nothing this round
                    inserted = conn.execute(
                        insert(table)
                        .values(name=name, holder=holder, expires_at=until)
                        .on_conflict_do_nothing(index_elements=["name"])
                        .returning(table.c.name)
                    ).first()
                    if inserted is not None:
                        held[name] = None
                    continue
                if before[0] != holder and before[1] >= now:
                    continue
                conn.execute(
                    sa.update(table)
                    .where(table.c.name == name)
                    .values(holder=holder, expires_at=sa.bindparam("until", until, UTCDateTime))
                )
                held[name] = before
        return held

    @_translated
    def expire_leases(self, names: Sequence[str], holder: str, *, now: dt.datetime) -> None:
        """End ``holder``'s leases at ``now`` (kept as rows: the next holder reads when
        they ended, and starts after that slot)."""
        if not names:
            return
        table = LeaseRow.__table__  # type: ignore[attr-defined]
        with self._write_lock, self.engine.begin() as conn:
            conn.execute(
                sa.update(table)
                .where(table.c.name.in_(list(names)), table.c.holder == holder)
                .values(expires_at=sa.bindparam("at", now, UTCDateTime))
            )

    @_translated
    def forget_leases(self, prefix: str, *, ended_before: dt.datetime) -> int:
        """Delete the leases named ``prefix...`` that ended before ``ended_before`` (the
        heartbeats of agents long gone); returns how many."""
        table = LeaseRow.__table__  # type: ignore[attr-defined]
        with self._write_lock, self.engine.begin() as conn:
            done = conn.execute(
                sa.delete(table)
                .where(table.c.name.startswith(prefix, autoescape=True))
                .where(table.c.expires_at < sa.bindparam("before", ended_before, UTCDateTime))
            )
        return int(done.rowcount or 0)
