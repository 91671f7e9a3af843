"""The probe budget: pure arithmetic and billing rules, then the ledger on SQLite and a real
PostgreSQL (through the ``store`` fixture), including many threads racing for a tight cap."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest

from monitor.budget import (
    Billing,
    Budget,
    BudgetPolicy,
    MemoryLedger,
    Purpose,
    admitted_in,
    billing,
    keeps_reservation,
    purpose_limit,
    regular_limit,
    remaining,
)
from monitor.budget_pace import interval_for, paced_interval, probes_per_day, seconds_left
from monitor.interfaces import Outcome
from monitor.store import Store

T0 = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
FAL = "fal/imagen-4.0-generate-001"
GEMINI = "gemini/imagen-4.0-generate-001"
PRICE = Decimal("0.04")


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (Outcome.OK, Billing.BILLED),
        (Outcome.INVALID_OUTPUT, Billing.BILLED),
        (Outcome.TIMEOUT, Billing.MAYBE),
        (Outcome.PROTOCOL_ERROR, Billing.MAYBE),
        (Outcome.CONNECT_ERROR, Billing.FREE),
        (Outcome.AUTH_ERROR, Billing.FREE),
        (Outcome.RATE_LIMITED, Billing.FREE),
        (Outcome.BAD_REQUEST, Billing.FREE),
        (Outcome.SERVER_ERROR, Billing.FREE),
        (Outcome.CONTENT_FILTERED, Billing.FREE),
        (Outcome.MODEL_UNAVAILABLE, Billing.FREE),
    ],
)
def test_providers_bill_delivered_images_only(outcome: Outcome, expected: Billing) -> None:
    assert billing(outcome) == expected
    assert keeps_reservation(outcome) == (expected != Billing.FREE)


def test_a_cancelled_probe_may_have_been_billed() -> None:
    assert billing(Outcome.SERVER_ERROR, cancelled=True) == Billing.MAYBE


def test_the_cadence_a_budget_allows() -> None:
    assert probes_per_day(Decimal(1), PRICE) == 25
    assert interval_for(Decimal(1), PRICE) == pytest.approx(57.6 * 60)
    assert interval_for(Decimal("0.01"), PRICE) == float("inf")
    with pytest.raises(ValueError):
        probes_per_day(Decimal(1), Decimal(0))


def test_regular_probes_leave_the_confirm_slice() -> None:
    share = Decimal("0.3")
    assert purpose_limit(Decimal(1), Purpose.REGULAR, share) == Decimal("0.7")
    assert purpose_limit(Decimal(1), Purpose.CONFIRM, share) == Decimal(1)
    assert purpose_limit(None, Purpose.REGULAR, share) is None
    assert remaining(Decimal(1), Decimal("1.2")) == 0
    assert remaining(None, Decimal(5)) is None


def test_an_offering_plans_with_the_smaller_of_its_cap_and_its_global_share() -> None:
    policy = BudgetPolicy(
        daily_usd=Decimal(4), offering_daily_usd=Decimal(1), per_offering_usd={FAL: Decimal(3)}
    )
    budget = Budget(policy, MemoryLedger(), [FAL, GEMINI])
    midnight = T0.replace(hour=0)
    # global 4 * 0.7 / 5 offerings = 0.56 < own 1
    assert budget.regular_interval(GEMINI, PRICE, midnight, n_offerings=5) == pytest.approx(
        paced_interval(Decimal("0.56"), PRICE, 86400.0)
    )
    # global 4 * 0.7 / 2 = 1.4 < own 3
    assert budget.regular_interval(FAL, PRICE, midnight, n_offerings=2) == pytest.approx(
        paced_interval(Decimal("1.4"), PRICE, 86400.0)
    )
    unlimited = Budget(BudgetPolicy(), MemoryLedger(), [FAL])
    assert unlimited.regular_interval(FAL, PRICE, midnight) == 0.0


def test_pacing_spreads_what_is_left_over_what_is_left_of_the_day() -> None:
    assert seconds_left(T0) == 12 * 3600
    # ten probes left: eleven intervals, the next day's first probe closing the last
    assert paced_interval(Decimal("0.4"), PRICE, 3600.0) == pytest.approx(3600.0 / 11)
    assert paced_interval(Decimal("0.01"), PRICE, 3600.0) == 3600.0


def test_regular_probes_are_paced_over_the_whole_days_money() -> None:
    """Issue 17: the confirm slice is not held back from the pace: at midnight $1 at $0.04
    buys one probe every 3,456 s (86,400 x price / budget), not one per 4,114 s."""
    budget = Budget(BudgetPolicy(offering_daily_usd=Decimal(1)), MemoryLedger(), [FAL])
    midnight = T0.replace(hour=0)
    assert budget.reserve(FAL, "fal", PRICE, "a", midnight) is not None  # the day's first
    assert budget.regular_interval(FAL, PRICE, midnight) == pytest.approx(3456.0)
    # money left at noon is spread over the half day left
    assert budget.regular_interval(FAL, PRICE, T0) == pytest.approx(12 * 3600 / 25)


def test_budget_interval_slows_down_when_todays_money_runs_short() -> None:
    policy = BudgetPolicy(offering_daily_usd=Decimal(1), confirm_share=Decimal(0))
    budget = Budget(policy, MemoryLedger(), [FAL])
    for _ in range(20):  # $0.80 of $1 gone by noon: 5 probes for 12 hours
        assert budget.reserve(FAL, "fal", PRICE, "a", T0) is not None
    assert budget.regular_interval(FAL, PRICE, T0) == pytest.approx(12 * 3600 / 6)


def test_the_confirm_slice_is_released_as_the_utc_day_runs_out() -> None:
    """Regular probes leave the confirm slice ($0.16 at $0.04: four probes) in proportion
    to the time left in the day; confirmations and recovery probes may use it."""
    policy = BudgetPolicy(offering_daily_usd=Decimal(1))
    assert regular_limit(policy, FAL, PRICE, T0.replace(hour=0)) == Decimal("0.84")
    assert regular_limit(policy, FAL, PRICE, T0) == Decimal("0.92")
    late = T0.replace(hour=23, minute=59, second=59)
    assert regular_limit(policy, FAL, PRICE, late) == pytest.approx(
        Decimal(1), abs=Decimal("0.0001")
    )
    budget = Budget(policy, MemoryLedger(), [FAL])
    granted = [budget.reserve(FAL, "fal", PRICE, "a", T0) for _ in range(25)]
    assert sum(r is not None for r in granted) == 23  # $0.92 at noon
    # the pace waits until the slice's release admits one more ($0.96 at 18:00)
    assert budget.regular_interval(FAL, PRICE, T0) == pytest.approx(6 * 3600)
    assert budget.reserve(FAL, "fal", PRICE, "a", T0, Purpose.CONFIRM) is None  # keeps 2
    assert budget.reserve(FAL, "fal", PRICE, "a", T0, Purpose.RECOVER) is not None


def test_confirmations_slow_the_regular_pace_and_wait_for_the_release() -> None:
    policy = BudgetPolicy(offering_daily_usd=Decimal(1))
    budget = Budget(policy, MemoryLedger(), [FAL])
    six = T0.replace(hour=6)  # 18 hours left: the regular limit is $0.88
    for _ in range(22):
        assert budget.reserve(FAL, "fal", PRICE, "a", six, Purpose.CONFIRM) is not None
    # $0.88 spent: the next regular probe ($0.92) is admitted once half the slice is
    # released (12 h before midnight), 6 h from now
    assert admitted_in(policy, FAL, PRICE, Decimal("0.88"), six) == pytest.approx(6 * 3600)
    assert budget.regular_interval(FAL, PRICE, six) == pytest.approx(6 * 3600)
    assert budget.reserve(FAL, "fal", PRICE, "a", six) is None
    assert budget.reserve(FAL, "fal", PRICE, "a", six + dt.timedelta(hours=6)) is not None


def make_budget(store: Store | MemoryLedger, **kw: object) -> Budget:
    policy = BudgetPolicy(**kw)  # type: ignore[arg-type]
    return Budget(policy, store, [FAL, GEMINI])


def test_reserve_refuses_past_the_offering_cap_and_release_gives_it_back(store: Store) -> None:
    budget = make_budget(store, offering_daily_usd=Decimal("0.10"), confirm_share=Decimal(0))
    first = budget.reserve(FAL, "fal", PRICE, "agent-1", T0)
    second = budget.reserve(FAL, "fal", PRICE, "agent-1", T0)
    assert first is not None and second is not None
    assert budget.reserve(FAL, "fal", PRICE, "agent-1", T0) is None
    assert budget.skipped == {FAL: 1}
    assert budget.reserve(GEMINI, "gemini", PRICE, "agent-1", T0) is not None  # its own cap
    budget.settle(first, billed=False, now=T0)  # a server error: not billed
    assert budget.reserve(FAL, "fal", PRICE, "agent-1", T0) is not None
    budget.settle(second, billed=True, now=T0)
    states = sorted(r.state for r in store.spend_rows(T0.date()))
    assert states == ["released", "reserved", "reserved", "settled"]
    assert store.spend_by_offering(T0.date()) == {FAL: 80_000, GEMINI: 40_000}


def test_the_global_cap_binds_every_offering_together(store: Store) -> None:
    budget = make_budget(store, daily_usd=Decimal("0.12"), confirm_share=Decimal(0))
    got = [budget.reserve(o, "p", PRICE, "a", T0) for o in (FAL, GEMINI, FAL, GEMINI)]
    assert [g is not None for g in got] == [True, True, True, False]
    rows = {r.scope: r for r in budget.rows()}
    assert rows["global"].cap_usd == Decimal("0.12")
    assert rows["global"].remaining_usd == 0
    # what /metrics reads: the same caps and money left, as floats
    assert budget.gauge_rows() == [
        (r.scope, float(r.cap_usd), float(r.remaining_usd)) for r in budget.rows()
    ]


def test_gauge_rows_match_the_rows_for_every_capped_scope(store: Store) -> None:
    budget = make_budget(
        store,
        daily_usd=Decimal("1.00"),
        offering_daily_usd=Decimal("0.30"),
        confirm_share=Decimal(0),
    )
    for offering in (FAL, FAL, GEMINI):
        assert budget.reserve(offering, "p", Decimal("0.0398"), "a", T0) is not None
    expected = [(r.scope, float(r.cap_usd), float(r.remaining_usd)) for r in budget.rows()]
    assert len(expected) >= 3  # global and at least the two offerings
    assert budget.gauge_rows() == expected


def test_the_confirm_slice_is_kept_for_confirmations(store: Store) -> None:
    budget = make_budget(store, offering_daily_usd=Decimal("0.20"), confirm_share=Decimal("0.4"))
    midnight = T0.replace(hour=0)  # the whole slice is held: it is released over the day
    regular = [budget.reserve(FAL, "fal", PRICE, "a", midnight) for _ in range(4)]
    assert [r is not None for r in regular] == [True, True, True, False]  # 0.12 of 0.20
    # confirmations leave half their slice (at most two probes) for proving a recovery
    confirm = [budget.reserve(FAL, "fal", PRICE, "a", midnight, Purpose.CONFIRM) for _ in range(2)]
    assert [r is not None for r in confirm] == [True, False]
    recover = [budget.reserve(FAL, "fal", PRICE, "a", midnight, Purpose.RECOVER) for _ in range(2)]
    assert [r is not None for r in recover] == [True, False]


def test_a_crashed_reservation_keeps_counting_and_expires_as_spent(store: Store) -> None:
    budget = make_budget(
        store, offering_daily_usd=Decimal("0.08"), confirm_share=Decimal(0), expiry_s=240.0
    )
    lost = budget.reserve(FAL, "fal", PRICE, "crashed", T0)  # never settled
    assert lost is not None
    later = T0 + dt.timedelta(minutes=10)
    assert budget.reserve(FAL, "fal", PRICE, "b", later) is not None
    assert budget.reserve(FAL, "fal", PRICE, "b", later) is None  # the lost one still counts
    [row] = [r for r in store.spend_rows(T0.date()) if r.reservation_id == lost.reservation_id]
    assert row.state == "settled"  # expired: conservatively spent
    budget.settle(lost, billed=False, now=later)  # a late "not billed" must not release it
    assert store.spend_by_offering(T0.date()) == {FAL: 80_000}


def test_days_are_separate(store: Store) -> None:
    budget = make_budget(store, offering_daily_usd=Decimal("0.04"), confirm_share=Decimal(0))
    assert budget.reserve(FAL, "fal", PRICE, "a", T0) is not None
    assert budget.reserve(FAL, "fal", PRICE, "a", T0) is None
    assert budget.reserve(FAL, "fal", PRICE, "a", T0 + dt.timedelta(days=1)) is not None


@pytest.mark.parametrize("backend", ["store", "memory"])
def test_many_threads_racing_never_pass_the_cap_by_a_cent(store: Store, backend: str) -> None:
    ledger: Store | MemoryLedger = store if backend == "store" else MemoryLedger()
    cap = Decimal("1.00")
    budget = make_budget(ledger, daily_usd=cap, confirm_share=Decimal(0))
    amounts = [Decimal("0.03"), Decimal("0.04"), Decimal("0.06")]
    granted: list[Decimal] = []
    lock = threading.Lock()
    start = threading.Barrier(16)

    def worker(n: int) -> None:
        start.wait()
        for i in range(12):
            amount = amounts[(n + i) % 3]
            offering = FAL if i % 2 else GEMINI
            reservation = budget.reserve(offering, "p", amount, f"t{n}", T0)
            if reservation is not None:
                with lock:
                    granted.append(amount)
                budget.settle(reservation, billed=i % 3 != 0, now=T0)
                if i % 3 == 0:
                    with lock:
                        granted.remove(amount)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spent = sum(ledger.spend_by_offering(T0.date()).values())
    assert spent == int(sum(granted) * 1_000_000)
    assert spent <= 1_000_000
    assert spent >= 1_000_000 - 60_000  # the racing threads did fill the budget


def test_a_cheap_offering_keeps_a_few_probes_for_confirming_not_a_share() -> None:
    policy = BudgetPolicy(offering_daily_usd=Decimal(1))
    # $0.04: 30% is $0.30 but four probes are $0.16, so regular probes get $0.84
    assert regular_limit(policy, FAL, PRICE, T0.replace(hour=0)) == Decimal("0.84")
    assert purpose_limit(Decimal(1), Purpose.REGULAR, Decimal("0.3"), Decimal("0.5")) == Decimal(
        "0.7"
    )
    budget = Budget(policy, MemoryLedger(), [FAL])
    midnight = T0.replace(hour=0)
    # at midnight regular reservations stop at $0.84, confirmations may use the rest
    regular = [budget.reserve(FAL, "fal", PRICE, "a", midnight) for _ in range(22)]
    assert sum(r is not None for r in regular) == 21
    assert budget.reserve(FAL, "fal", PRICE, "a", midnight, Purpose.CONFIRM) is not None
    unlimited = BudgetPolicy(offering_daily_usd=Decimal(1), confirm_probes=None)
    assert regular_limit(unlimited, FAL, PRICE, T0.replace(hour=0)) == Decimal("0.7")
