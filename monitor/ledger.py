"""Where the budget's reservations live: the :class:`Ledger` protocol
(:class:`monitor.store.Store` is the shared implementation) and :class:`MemoryLedger`, an
in-process one with the store's semantics for replays and single tests."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from typing import Protocol


class Ledger(Protocol):
    """Where reservations live. :class:`monitor.store.Store` is the shared implementation."""

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
        """Atomically: settle expired reservations as spent (those created before
        ``expire_before``, or before ``expire_overrides[offering]`` for the offerings listed
        there), then insert this one unless it would take the day's global or offering
        spend past its cap. Returns the day's (global, offering) spend including it, or
        None when refused."""
        ...

    def settle_spend(self, reservation_id: str, *, billed: bool, now: dt.datetime) -> bool:
        """``reserved`` -> ``settled`` or ``released``; False when it was not reserved."""
        ...

    def spend_by_offering(self, day: dt.date) -> dict[str, int]:
        """Reserved plus settled micro-dollars of the day, per offering."""
        ...


class MemoryLedger:
    """An in-process ledger with the store's semantics, for replays and single tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # reservation id -> (day, offering, amount, state, created_at)
        self.rows: dict[str, tuple[dt.date, str, int, str, dt.datetime]] = {}

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
        overrides = expire_overrides or {}
        with self._lock:
            for rid, (d, o, a, state, at) in list(self.rows.items()):
                if state == "reserved" and at < overrides.get(o, expire_before):
                    self.rows[rid] = (d, o, a, "settled", at)
            live = [r for r in self.rows.values() if r[0] == day and r[3] != "released"]
            spent_all = sum(r[2] for r in live)
            spent_one = sum(r[2] for r in live if r[1] == offering)
            if global_cap_micro is not None and spent_all + amount_micro > global_cap_micro:
                return None
            if offering_cap_micro is not None and spent_one + amount_micro > offering_cap_micro:
                return None
            self.rows[reservation_id] = (day, offering, amount_micro, "reserved", now)
            return spent_all + amount_micro, spent_one + amount_micro

    def settle_spend(self, reservation_id: str, *, billed: bool, now: dt.datetime) -> bool:
        with self._lock:
            row = self.rows.get(reservation_id)
            if row is None or row[3] != "reserved":
                return False
            self.rows[reservation_id] = (*row[:3], "settled" if billed else "released", row[4])
            return True

    def spend_by_offering(self, day: dt.date) -> dict[str, int]:
        with self._lock:
            out: dict[str, int] = {}
            for d, o, a, state, _ in self.rows.values():
                if d == day and state != "released":
                    out[o] = out.get(o, 0) + a
            return out
