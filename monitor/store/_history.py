"""The store's history: hourly rollups of probe results, pruning, and the long-period query.

Rolling up (:meth:`HistoryStore.roll_up`) tallies every complete hour not rolled up yet,
plus the hours late results landed in (a result id above the last one seen) and always the
last two hours (ids commit out of order on PostgreSQL), from the raw results, replacing
that hour's rollups. Pruning (:meth:`HistoryStore.prune`) rolls up, re-tallies the hours it
is about to delete from their raw results in the same transaction (so the rollups that
replace them hold exactly what they held) and deletes them; a late result in an hour
already pruned is added to that hour's rollups, then deleted. Both run under one lock (an
advisory transaction lock on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so two agents or
two ``provmon db prune`` at once take turns and the second finds nothing left to do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa

from monitor.history import RollupKey, Tally, hour_of, merged, pack, unpack
from monitor.interfaces import Outcome
from monitor.store._base import StoreBase, _translated
from monitor.store.tables import HistoryMarkRow, ProbeRow, RollupRow, UTCDateTime

_RAW = ProbeRow.__table__  # type: ignore[attr-defined]
_ROLLUPS = RollupRow.__table__  # type: ignore[attr-defined]
_MARKS = HistoryMarkRow.__table__  # type: ignore[attr-defined]
_HOUR = dt.timedelta(hours=1)
#: hours re-tallied at every roll-up even without a newer id (out-of-order commits)
_SETTLE = 2
#: hours tallied per read of raw results
_CHUNK = 24
#: pg_advisory_xact_lock key of rolling up and pruning ("provmon history")
_LOCK_KEY = 0x70726F76_6D6F6E18


@dataclass(frozen=True, kw_only=True)
class PruneReport:
    """What one prune did: hours (re)tallied and raw results deleted."""

    hours_rolled: int
    rows_deleted: int
    pruned_through: dt.datetime


def _at(value: dt.datetime) -> sa.BindParameter[dt.datetime]:
    return sa.bindparam(None, value, type_=UTCDateTime)


class HistoryStore(StoreBase):
    """Rollups, retention and the long-period query (``monitor.history``)."""

    @contextmanager
    def _history_lock(self) -> Iterator[sa.Connection]:
        if self.is_sqlite:
            with self._sqlite_immediate() as conn:
                yield conn
            return
        with self.engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
            yield conn

    # -- marks ------------------------------------------------------------------------------

    @staticmethod
    def _mark(conn: sa.Connection, name: str) -> tuple[dt.datetime | None, int | None]:
        row = conn.execute(
            sa.select(_MARKS.c.at, _MARKS.c.value).where(_MARKS.c.name == name)
        ).first()
        return (row.at, row.value) if row else (None, None)

    @staticmethod
    def _set_mark(conn: sa.Connection, name: str, at: dt.datetime, value: int | None) -> None:
        done = conn.execute(
            sa.update(_MARKS).where(_MARKS.c.name == name).values(at=at, value=value)
        )
        if not done.rowcount:
            conn.execute(sa.insert(_MARKS).values(name=name, at=at, value=value))

    # -- tallying ---------------------------------------------------------------------------

    @staticmethod
    def _tally_raw(
        conn: sa.Connection, start: dt.datetime, end: dt.datetime
    ) -> dict[RollupKey, Tally]:
        """Raw results started in ``[start, end)``, tallied per offering, vantage, kind, hour."""
        c = _RAW.c
        rows = conn.execute(
            sa.select(
                c.offering, c.vantage, c.kind, c.outcome, c.started_at, c.total_s,
                c.cost_micro_usd, c.cancelled,
            ).where(c.started_at >= _at(start), c.started_at < _at(end))
        )  # fmt: skip
        out: dict[RollupKey, Tally] = {}
        for offering, vantage, kind, outcome, at, total, cost, cancelled in rows:
            key = (offering, vantage, kind, hour_of(at))
            tally = out.get(key)
            if tally is None:
                tally = out[key] = Tally()
            tally.add(Outcome(outcome), total, cost or 0, bool(cancelled))
        return out

    @staticmethod
    def _write(conn: sa.Connection, tallies: dict[RollupKey, Tally], span: int = 1) -> None:
        if tallies:
            conn.execute(
                sa.insert(_ROLLUPS),
                [
                    {
                        "span_hours": span,
                        "offering": offering,
                        "vantage": vantage,
                        "kind": kind,
                        "hour": hour,
                        "ok": t.ok,
                        "content_filtered": t.content_filtered,
                        "rate_limited": t.rate_limited,
                        "errors": t.errors,
                        "cancelled": t.cancelled,
                        "cost_micro_usd": t.cost_micro_usd,
                        "latency_histogram": pack(t.histogram) or None,
                    }
                    for (offering, vantage, kind, hour), t in tallies.items()
                ],
            )

    def _retally(self, conn: sa.Connection, hours: Iterable[dt.datetime]) -> set[dt.datetime]:
        """Replace the rollups of ``hours`` with their raw results' tallies."""
        ordered = sorted(set(hours))
        for i in range(0, len(ordered), _CHUNK):
            for start, end in _spans(ordered[i : i + _CHUNK]):
                conn.execute(sa.delete(_ROLLUPS).where(*_span(1, start, end)))
                self._write(conn, self._tally_raw(conn, start, end))
            self._redo_days(conn, {_day(h) for h in ordered[i : i + _CHUNK]})
        return set(ordered)

    def _redo_days(self, conn: sa.Connection, days: Iterable[dt.datetime]) -> None:
        """Each day's rollup (``span_hours`` 24): its hours' rollups added up."""
        for day in sorted(set(days)):
            conn.execute(sa.delete(_ROLLUPS).where(*_span(24, day, day + _HOUR)))
            hours = conn.execute(sa.select(_ROLLUPS).where(*_span(1, day, day + 24 * _HOUR)))
            tallies: dict[RollupKey, Tally] = {}
            for row in hours:
                key = (row.offering, row.vantage, row.kind, day)
                tallies.setdefault(key, Tally()).merge(_tally_of(row))
            self._write(conn, tallies, span=24)

    def _roll_up(self, conn: sa.Connection, now: dt.datetime) -> set[dt.datetime]:
        """Re-tally what needs it (see the module's docstring); returns the hours tallied."""
        current = hour_of(now)
        rolled, seen = self._mark(conn, "rolled_through")
        pruned, _ = self._mark(conn, "pruned_through")
        newest = conn.execute(sa.select(sa.func.max(_RAW.c.id))).scalar() or 0
        if rolled is None:
            oldest = conn.execute(sa.select(sa.func.min(_RAW.c.started_at))).scalar()
            rolled = hour_of(oldest) if oldest is not None else current
        late = conn.execute(
            sa.select(_RAW.c.started_at).where(
                _RAW.c.id > (seen or 0), _RAW.c.started_at < _at(rolled)
            )
        ).scalars()
        hours = {hour_of(at) for at in late}
        hours.update(_hours(min(rolled, current) - _SETTLE * _HOUR, current))
        floor = pruned or dt.datetime.min.replace(tzinfo=dt.UTC)
        chosen = {h for h in hours if floor <= h < current}
        self._retally(conn, chosen)
        self._set_mark(conn, "rolled_through", max(rolled, current), newest)
        return chosen

    # -- public operations ------------------------------------------------------------------

    @_translated
    def roll_up(self, now: dt.datetime) -> int:
        """Tally every complete hour before ``now`` not rolled up yet (and the hours late
        results landed in); returns the hours tallied."""
        with self._history_lock() as conn:
            return len(self._roll_up(conn, now))

    @_translated
    def prune(self, now: dt.datetime, *, raw_days: float) -> PruneReport:
        """Roll up, then delete raw results older than ``raw_days`` (whole hours), their
        hours' rollups re-tallied from them first. Safe to repeat and to run at once from
        several processes."""
        cutoff = hour_of(now - dt.timedelta(days=raw_days))
        with self._history_lock() as conn:
            tallied = self._roll_up(conn, now)
            pruned, _ = self._mark(conn, "pruned_through")
            late: dict[RollupKey, Tally] = {}
            if pruned is not None:  # results that landed in hours already pruned
                late = self._tally_raw(conn, dt.datetime.min.replace(tzinfo=dt.UTC), pruned)
                for key, tally in late.items():
                    self._add_to(conn, key, tally)
                start = pruned
            else:
                oldest = conn.execute(sa.select(sa.func.min(_RAW.c.started_at))).scalar()
                start = hour_of(oldest) if oldest is not None else cutoff
            # the hours about to go, tallied from their raw results in this transaction
            # (unless the roll-up just did): the rollups hold exactly what is deleted
            tallied.update(self._retally(conn, set(_hours(start, cutoff)) - tallied))
            deleted = conn.execute(sa.delete(_RAW).where(_RAW.c.started_at < _at(cutoff)))
            through = max(start, cutoff)
            self._set_mark(conn, "pruned_through", through, None)
        return PruneReport(
            hours_rolled=len(tallied) + len(late),
            rows_deleted=deleted.rowcount,
            pruned_through=through,
        )

    def _add_to(self, conn: sa.Connection, key: RollupKey, tally: Tally) -> None:
        offering, vantage, kind, hour = key
        c = _ROLLUPS.c
        where = (c.offering == offering, c.vantage == vantage, c.kind == kind)
        match = sa.and_(*where, *_span(1, hour, hour + _HOUR))
        row = conn.execute(sa.select(_ROLLUPS).where(match)).first()
        if row is not None:
            tally.merge(_tally_of(row))
            conn.execute(sa.delete(_ROLLUPS).where(match))
        self._write(conn, {key: tally})
        self._redo_days(conn, [_day(hour)])

    @_translated
    def rollups(
        self, *, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> dict[RollupKey, Tally]:
        """The stored rollups of hours in ``[since, until)``, by key."""
        query = sa.select(_ROLLUPS).where(_ROLLUPS.c.span_hours == 1)
        if since is not None:
            query = query.where(_ROLLUPS.c.hour >= _at(since))
        if until is not None:
            query = query.where(_ROLLUPS.c.hour < _at(until))
        with self.engine.connect() as conn:
            return {
                (r.offering, r.vantage, r.kind, r.hour): _tally_of(r) for r in conn.execute(query)
            }

    @_translated
    def history(
        self, since: dt.datetime, until: dt.datetime, *, kind: str | None = None
    ) -> dict[tuple[str, str], Tally]:
        """Per (offering, kind), every vantage: the results started in ``[since, until]``,
        from the rollups of the hours rolled up (whole hours, ``since`` taken down to its
        hour) and the raw results after them. What routing and the status page need over
        a long period: success ratio, latency quantile, cost."""
        with self.engine.connect() as conn:
            rolled, _ = self._mark(conn, "rolled_through")
            split = max(hour_of(since), min(rolled, hour_of(until))) if rolled else since
            out: dict[tuple[str, str], Tally] = {}
            if rolled:
                for span, start, end in _pieces(hour_of(since), split):
                    self._summed(conn, out, _span(span, start, end), kind)
            c = _RAW.c
            raw = sa.select(
                c.offering, c.kind, c.outcome, c.total_s, c.cost_micro_usd, c.cancelled
            ).where(c.started_at >= _at(max(since, split)), c.started_at <= _at(until))
            if kind is not None:
                raw = raw.where(c.kind == kind)
            for offering, kind_, outcome, total, cost, cancelled in conn.execute(raw):
                tally = out.setdefault((offering, kind_), Tally())
                tally.add(Outcome(outcome), total, cost or 0, bool(cancelled))
        return out

    @staticmethod
    def _summed(
        conn: sa.Connection,
        out: dict[tuple[str, str], Tally],
        where: list[sa.ColumnElement[bool]],
        kind: str | None,
    ) -> None:
        """Add the rollups ``where`` selects to ``out``: counts added up in SQL per
        (offering, kind), histograms fetched and added here (one integer addition each)."""
        c = _ROLLUPS.c
        if kind is not None:
            where = [*where, c.kind == kind]
        sums = sa.select(
            c.offering, c.kind, *(sa.func.sum(col) for col in _COUNTS)
        ).where(*where).group_by(c.offering, c.kind)  # fmt: skip
        for offering, kind_, *values in conn.execute(sums):
            out.setdefault((offering, kind_), Tally()).merge(
                Tally(**{col.name: int(v or 0) for col, v in zip(_COUNTS, values, strict=True)})
            )
        hists = sa.select(c.offering, c.kind, c.latency_histogram).where(
            *where, c.latency_histogram.is_not(None)
        )
        for offering, kind_, data in conn.execute(hists):
            out[(offering, kind_)].histogram += unpack(data)


_COUNTS = tuple(
    _ROLLUPS.c[name]
    for name in ("ok", "content_filtered", "rate_limited", "errors", "cancelled", "cost_micro_usd")
)


def _tally_of(row: sa.Row[tuple[object, ...]]) -> Tally:
    m = row._mapping
    return Tally(
        **{col.name: int(m[col.name]) for col in _COUNTS},
        histogram=unpack(m["latency_histogram"]),
    )


def _span(span: int, start: dt.datetime, end: dt.datetime) -> list[sa.ColumnElement[bool]]:
    """Rollups of ``span`` hours starting in ``[start, end)``."""
    c = _ROLLUPS.c
    return [c.span_hours == span, c.hour >= _at(start), c.hour < _at(end)]


def _day(at: dt.datetime) -> dt.datetime:
    return hour_of(at).replace(hour=0)


def _pieces(start: dt.datetime, end: dt.datetime) -> list[tuple[int, dt.datetime, dt.datetime]]:
    """``[start, end)`` (whole hours) as the rollups that cover it: hours up to the first
    midnight, whole days, hours after the last midnight."""
    first = _day(start) if start == _day(start) else _day(start) + 24 * _HOUR
    last = _day(end)
    if first >= last:
        return [(1, start, end)]
    return [(1, start, first), (24, first, last), (1, last, end)]


def _hours(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    out, hour = [], start
    while hour < end:
        out.append(hour)
        hour += _HOUR
    return out


def _spans(hours: list[dt.datetime]) -> Iterator[tuple[dt.datetime, dt.datetime]]:
    """Sorted hours as runs of consecutive hours, ``[first, last + 1 h)`` each."""
    start = prev = hours[0] if hours else None
    for hour in hours[1:]:
        assert prev is not None and start is not None
        if hour != prev + _HOUR:
            yield start, prev + _HOUR
            start = hour
        prev = hour
    if start is not None and prev is not None:
        yield start, prev + _HOUR


__all__ = ["HistoryStore", "PruneReport", "merged"]
