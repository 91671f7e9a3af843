"""The probe budget: money provmon may spend on its own paid probes, per UTC day.

A paid probe reserves its listed price before it is sent and settles afterwards
(:meth:`Budget.reserve`, :meth:`Budget.settle`). The check and the reservation happen in
one transaction of the ledger (the store: a locked per-day row on PostgreSQL, ``BEGIN
IMMEDIATE`` on SQLite), so several agents sharing a database never exceed the cap together.
Reservations count against the day until settled; one left ``reserved`` by a crashed
agent keeps counting and is settled as spent after ``expiry_s`` (never released: the
provider may have billed it).

Regular probes leave a confirm slice for confirmation probes (sent early because something
failed or was slow), and those leave ``RECOVERY_PROBES`` for proving a recovery. An
offering's slice is ``confirm_share`` of its cap or ``confirm_probes`` probes at its price,
whichever is smaller: a cheap offering keeps a few probes' worth, not 30% of its day. The
slice is held back in proportion to the time left in the UTC day (:func:`regular_limit`),
and regular probes are paced over all the money left (:meth:`Budget.regular_interval`):
what confirmations did not need is spent on sampling before midnight instead of being
lost, and what they did spend slows the pace (issue 17).

Everything but :class:`Budget` and :class:`MemoryLedger` is pure arithmetic.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from monitor.budget_pace import (
    DAY_SECONDS,
    day_of,
    held_share,
    paced_interval,
    seconds_left,
)
from monitor.interfaces import Outcome

# the ledger protocol and the in-memory ledger, re-exported where budgets are made
from monitor.ledger import Ledger as Ledger
from monitor.ledger import MemoryLedger as MemoryLedger

MICRO = Decimal("0.000001")
GLOBAL = "global"


class Purpose(StrEnum):
    REGULAR = "regular"
    CONFIRM = "confirm"
    #: looking for the end of an outage or a slowdown: may use the whole cap, and the last
    #: ``RECOVERY_PROBES`` of it, which confirmations leave, so a day's confirmations
    #: cannot keep an offering down until midnight
    RECOVER = "recover"


#: probes at the offering's price that confirmations leave for proving a recovery
RECOVERY_PROBES = 2


class Billing(StrEnum):
    BILLED = "billed"
    FREE = "free"
    #: the provider may have billed (a deadline passed while it generated): keep it spent
    MAYBE = "maybe"


_BILLING = {
    Outcome.OK: Billing.BILLED,
    # an image came back, only the wrong size or type: the provider delivered and bills
    Outcome.INVALID_OUTPUT: Billing.BILLED,
    Outcome.TIMEOUT: Billing.MAYBE,
    Outcome.PROTOCOL_ERROR: Billing.MAYBE,
    Outcome.CONNECT_ERROR: Billing.FREE,
    Outcome.AUTH_ERROR: Billing.FREE,
    Outcome.RATE_LIMITED: Billing.FREE,
    Outcome.BAD_REQUEST: Billing.FREE,
    Outcome.SERVER_ERROR: Billing.FREE,
    Outcome.CONTENT_FILTERED: Billing.FREE,
    Outcome.MODEL_UNAVAILABLE: Billing.FREE,
}


def billing(outcome: Outcome, *, cancelled: bool = False) -> Billing:
    """Whether a generate probe with this outcome was billed.

    Providers bill delivered images only (fal, Replicate, Google, OpenAI-compatible
    resellers): errors and safety blocks are free. A timeout or a cancelled probe may
    have been generated and billed after we stopped waiting, so it stays spent.
    """
    if cancelled:
        return Billing.MAYBE
    return _BILLING[outcome]


def keeps_reservation(outcome: Outcome, *, cancelled: bool = False) -> bool:
    """True when the reservation must be settled as spent rather than released."""
    return billing(outcome, cancelled=cancelled) != Billing.FREE


def to_micro(amount: Decimal) -> int:
    return int((amount / MICRO).to_integral_value())


def from_micro(value: int) -> Decimal:
    return (Decimal(value) * MICRO).normalize()


@dataclass(frozen=True, kw_only=True)
class BudgetPolicy:
    """Daily caps in USD. ``None`` means no cap at that scope."""

    daily_usd: Decimal | None = None
    #: the cap of every offering without its own entry in ``per_offering_usd``
    offering_daily_usd: Decimal | None = None
    per_offering_usd: Mapping[str, Decimal] = field(default_factory=dict)
    confirm_share: Decimal = Decimal("0.3")
    #: an offering's confirm slice holds at most this many probes at its price (None: no
    #: limit). A confirmed slowdown takes about three billed probes, a sibling's failure or
    #: a feed incident one; failed confirmations are released (issue 17)
    confirm_probes: int | None = 4
    #: a reservation still ``reserved`` after this long is settled as spent (2 x deadline)
    expiry_s: float = 240.0
    #: offerings whose own timeout differs from the default: their own expiry, so that a
    #: slow offering's reservation is not settled as spent while its probe still runs
    expiry_by_offering: Mapping[str, float] = field(default_factory=dict)


def offering_cap(policy: BudgetPolicy, offering: str) -> Decimal | None:
    return policy.per_offering_usd.get(offering, policy.offering_daily_usd)


def purpose_limit(
    cap: Decimal | None, purpose: Purpose, confirm_share: Decimal, most: Decimal | None = None
) -> Decimal | None:
    """What probes of ``purpose`` may spend of ``cap``: regular ones leave the confirm
    slice, ``confirm_share`` of the cap or ``most``, whichever is smaller."""
    if cap is None:
        return None
    if purpose != Purpose.REGULAR:
        return cap
    kept = cap * confirm_share
    return cap - (kept if most is None else min(kept, most))


def confirm_most(policy: BudgetPolicy, price: Decimal | None) -> Decimal | None:
    """The most an offering's confirm slice holds: ``confirm_probes`` at ``price``."""
    if policy.confirm_probes is None or price is None:
        return None
    return price * policy.confirm_probes


def remaining(cap: Decimal | None, spent: Decimal) -> Decimal | None:
    if cap is None:
        return None
    return max(Decimal(0), cap - spent)


def admits(limit: Decimal | None, spent: Decimal, amount: Decimal) -> bool:
    """The cap rule: spent (reserved or settled) plus this amount may not pass the limit."""
    return limit is None or spent + amount <= limit


def confirm_slice(policy: BudgetPolicy, cap: Decimal, price: Decimal) -> Decimal:
    """The part of an offering's ``cap`` regular probes leave for confirmations."""
    regular = purpose_limit(cap, Purpose.REGULAR, policy.confirm_share, confirm_most(policy, price))
    assert regular is not None
    return cap - regular


def recovery_kept(policy: BudgetPolicy, offering: str, price: Decimal) -> Decimal:
    """What confirmations leave of an offering's cap for proving a recovery:
    ``RECOVERY_PROBES`` at ``price``, at most half its confirm slice."""
    cap = offering_cap(policy, offering)
    if cap is None or policy.confirm_probes is None:
        return Decimal(0)
    return min(price * RECOVERY_PROBES, confirm_slice(policy, cap, price) / 2)


def regular_limit(
    policy: BudgetPolicy, offering: str, price: Decimal, now: dt.datetime
) -> Decimal | None:
    """What an offering's regular probes may have spent, this one included, at ``now``:
    its cap less its confirm slice in proportion to the time left in the UTC day."""
    cap = offering_cap(policy, offering)
    if cap is None:
        return None
    return cap - confirm_slice(policy, cap, price) * held_share(now)


def admitted_in(
    policy: BudgetPolicy, offering: str, price: Decimal, spent: Decimal, now: dt.datetime
) -> float:
    """Seconds until :func:`regular_limit` admits one more regular probe (0: now; the
    time to midnight when not today)."""
    cap = offering_cap(policy, offering)
    if cap is None:
        return 0.0
    slice_, room = confirm_slice(policy, cap, price), cap - spent - price
    left = seconds_left(now)
    if room < 0:
        return left
    if slice_ <= 0:
        return 0.0
    return max(0.0, left - float(room / slice_) * DAY_SECONDS)


@dataclass(frozen=True, kw_only=True)
class Reservation:
    reservation_id: str
    day: dt.date
    offering: str
    provider: str
    agent: str
    amount: Decimal
    purpose: Purpose
    created_at: dt.datetime


@dataclass(frozen=True, kw_only=True)
class BudgetRow:
    """One scope's numbers for the budget gauges."""

    scope: str
    cap_usd: Decimal
    spent_usd: Decimal
    remaining_usd: Decimal


class Budget:
    """Reserve and settle paid probes against a :class:`Ledger`; keeps today's spend in
    memory for scrape-time gauges (refreshed on every reserve and by :meth:`refresh`)."""

    def __init__(self, policy: BudgetPolicy, ledger: Ledger, offerings: Iterable[str]) -> None:
        self.policy = policy
        self.ledger = ledger
        self.offerings = list(offerings)
        self._lock = threading.Lock()
        self._day: dt.date | None = None
        self._spent: dict[str, int] = {}
        self._caps_micro: list[tuple[str, int]] | None = None
        self.skipped: dict[str, int] = {}

    def reserve(
        self,
        offering: str,
        provider: str,
        amount: Decimal,
        agent: str,
        now: dt.datetime,
        purpose: Purpose = Purpose.REGULAR,
    ) -> Reservation | None:
        """Reserve ``amount`` for one paid probe, or None when a cap would be passed (the
        caller skips the probe with reason ``budget``). Raises what the ledger raises."""
        glob = purpose_limit(self.policy.daily_usd, purpose, self.policy.confirm_share)
        own = offering_cap(self.policy, offering)
        if own is not None and purpose == Purpose.REGULAR:
            own = regular_limit(self.policy, offering, amount, now)
        elif own is not None and purpose == Purpose.CONFIRM:
            # never less than regular probes may spend (late in the day they may pass it)
            regular = regular_limit(self.policy, offering, amount, now)
            kept = own - recovery_kept(self.policy, offering, amount)
            own = kept if regular is None else max(kept, regular)
        reservation = Reservation(
            reservation_id=str(uuid.uuid4()),
            day=day_of(now),
            offering=offering,
            provider=provider,
            agent=agent,
            amount=amount,
            purpose=purpose,
            created_at=now,
        )
        totals = self.ledger.reserve_spend(
            reservation_id=reservation.reservation_id,
            day=reservation.day,
            offering=offering,
            provider=provider,
            agent=agent,
            amount_micro=to_micro(amount),
            global_cap_micro=None if glob is None else to_micro(glob),
            offering_cap_micro=None if own is None else to_micro(own),
            now=now,
            expire_before=now - dt.timedelta(seconds=self.policy.expiry_s),
            expire_overrides={
                o: now - dt.timedelta(seconds=s) for o, s in self.policy.expiry_by_offering.items()
            },
        )
        if totals is None:
            with self._lock:
                self.skipped[offering] = self.skipped.get(offering, 0) + 1
            self.refresh(now)
            return None
        with self._lock:
            self._roll(reservation.day)
            self._spent[offering] = totals[1]
        return reservation

    def settle(self, reservation: Reservation, billed: bool, now: dt.datetime) -> None:
        """Settle as spent (``billed``) or release. Idempotent; never releases a
        reservation that already expired into ``settled``."""
        released = self.ledger.settle_spend(reservation.reservation_id, billed=billed, now=now)
        if released and not billed:
            with self._lock:
                if self._day == reservation.day:
                    left = self._spent.get(reservation.offering, 0) - to_micro(reservation.amount)
                    self._spent[reservation.offering] = max(0, left)

    def settle_outcome(
        self, reservation: Reservation, outcome: Outcome, now: dt.datetime, *, cancelled: bool
    ) -> None:
        self.settle(reservation, keeps_reservation(outcome, cancelled=cancelled), now)

    def refresh(self, now: dt.datetime) -> None:
        """Re-read today's spend (other agents' too) from the ledger."""
        spent = self.ledger.spend_by_offering(day_of(now))
        with self._lock:
            self._day = day_of(now)
            self._spent = dict(spent)

    def _roll(self, day: dt.date) -> None:
        if self._day != day:
            self._day, self._spent = day, {}

    def spent_usd(self, offering: str | None = None) -> Decimal:
        with self._lock:
            if offering is None:
                return from_micro(sum(self._spent.values()))
            return from_micro(self._spent.get(offering, 0))

    def _capped_scopes(self) -> list[tuple[str, Decimal, str | None]]:
        """``(scope, cap, offering)`` for ``global`` (offering None) and every offering,
        where a cap is set."""
        scopes: list[tuple[str, Decimal | None, str | None]] = [
            (GLOBAL, self.policy.daily_usd, None)
        ]
        scopes += [(o, offering_cap(self.policy, o), o) for o in self.offerings]
        return [(scope, cap, o) for scope, cap, o in scopes if cap is not None]

    def gauge_rows(self) -> list[tuple[str, float, float]]:
        """``(scope, cap, remaining)`` in USD for every capped scope, as :meth:`rows` gives
        them but in integer micro-dollars under one lock: ``/metrics`` reads this at every
        scrape, for every offering."""
        caps = self._caps_micro
        if caps is None:
            caps = self._caps_micro = [(s, to_micro(c)) for s, c, _ in self._capped_scopes()]
        with self._lock:
            spent = dict(self._spent)
        total = sum(spent.values())
        return [
            (
                scope,
                cap / 1e6,
                max(0, cap - (total if scope == GLOBAL else spent.get(scope, 0))) / 1e6,
            )
            for scope, cap in caps
        ]

    def rows(self) -> list[BudgetRow]:
        """Cap, spend and remaining money per capped scope (``global`` and offerings)."""
        out = []
        for scope, cap, offering in self._capped_scopes():
            spent = self.spent_usd(offering)
            left = remaining(cap, spent)
            assert left is not None
            out.append(BudgetRow(scope=scope, cap_usd=cap, spent_usd=spent, remaining_usd=left))
        return out

    def regular_interval(
        self, offering: str, price: Decimal, now: dt.datetime, *, n_offerings: int | None = None
    ) -> float:
        """Seconds between regular paid probes of ``offering`` the budget allows now: the
        money left today spread over the time left today (:func:`paced_interval`), and
        not before :func:`regular_limit` admits the probe. Confirmations spend from the
        same money, so the pace slows after them; what they did not need is sampled with."""
        n = n_offerings if n_offerings is not None else max(1, len(self.offerings))
        spent = self.spent_usd(offering)
        pools, wait = [], 0.0
        cap = offering_cap(self.policy, offering)
        if cap is not None:
            pools.append(cap - spent)
            wait = admitted_in(self.policy, offering, price, spent, now)
        glob = purpose_limit(self.policy.daily_usd, Purpose.REGULAR, self.policy.confirm_share)
        if glob is not None:
            pools.append(glob / n - spent)
        if not pools:
            return 0.0
        pace = paced_interval(max(Decimal(0), min(pools)), price, seconds_left(now))
        return max(pace, wait)
