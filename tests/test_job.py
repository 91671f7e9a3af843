"""The probe job: one price snapshot from reservation to settlement, and reservations that
expire after their own offering's timeout."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import httpx

from monitor.budget import Budget, BudgetPolicy
from monitor.config import Config
from monitor.interfaces import Kind, Outcome
from monitor.service import Service
from monitor.sim.pages_state import PageState
from monitor.store import Store
from tests.conftest import sample, set_behaviour

MODEL = "imagen-4.0-generate-001"
GEMINI = f"gemini/{MODEL}"
FAL = f"fal/{MODEL}"
T0 = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


def _price(sim_url: str, amount: str) -> None:
    body = {"source": "gemini_page", "offering": GEMINI, "amount": amount}
    httpx.post(f"{sim_url}/_sim/price", json=body).raise_for_status()


async def test_a_price_change_mid_probe_leaves_reservation_cost_and_spend_equal(
    sim_config: Config, sim_url: str, db_url: str
) -> None:
    data = sim_config.model_dump(mode="json")
    data["offerings"] = {GEMINI: data["offerings"][GEMINI]}
    service = Service(Config.model_validate(data), db_url)
    # the generation takes 2 s, long enough for a price refresh to land while it runs
    set_behaviour(sim_url, f"gemini:{MODEL}", latency={"ttfb": {"fixed": 2.0}})
    await service.start(schedule=False)
    try:
        listed = service.price_of(GEMINI)
        assert listed == Decimal("0.04")
        probe = asyncio.create_task(service.probe_once(GEMINI, Kind.GENERATE))
        await asyncio.sleep(0.5)
        _price(sim_url, "0.05")
        await service.refresh_prices("gemini_page")
        assert service.price_of(GEMINI) == Decimal("0.05")  # the book moved mid-probe
        assert not probe.done()
        result = await probe
        assert result is not None and result.outcome == Outcome.OK
        assert await service.writer.flush()
        [row] = service.store.spend_rows(dt.datetime.now(dt.UTC).date())
        [stored] = service.store.recent_results(offering=GEMINI, kind="generate")
        spent = sample(service.metrics.render().decode(), "provmon_probe_spend_usd_total")
        assert (row.state, row.amount_micro_usd) == ("settled", 40_000)
        assert stored.cost_usd == result.cost_usd == listed
        assert spent == float(listed)
        assert service.budget.spent_usd(GEMINI) == listed
    finally:
        _price(sim_url, str(PageState().price("gemini_page", GEMINI)))
        await service.stop()


def test_a_reservation_expires_after_its_own_offerings_timeout(store: Store) -> None:
    """fal's probes may run 600 s, the default is 60 s: another offering's reservation 3 min
    later must not settle fal's as spent while its probe still runs."""
    policy = BudgetPolicy(expiry_s=120.0, expiry_by_offering={FAL: 1200.0})
    budget = Budget(policy, store, [FAL, GEMINI])
    slow = budget.reserve(FAL, "fal", Decimal("0.04"), "agent", T0)
    quick = budget.reserve(GEMINI, "gemini", Decimal("0.04"), "agent", T0)
    assert slow is not None and quick is not None
    later = T0 + dt.timedelta(minutes=3)
    assert budget.reserve(GEMINI, "gemini", Decimal("0.04"), "agent", later) is not None
    states = {r.reservation_id: r.state for r in store.spend_rows(T0.date())}
    assert states[quick.reservation_id] == "settled"  # past 2 x 60 s: expired as spent
    assert states[slow.reservation_id] == "reserved"
    # fal's probe fails free: its money comes back (it had not expired)
    budget.settle_outcome(slow, Outcome.SERVER_ERROR, later, cancelled=False)
    states = {r.reservation_id: r.state for r in store.spend_rows(T0.date())}
    assert states[slow.reservation_id] == "released"
    # past its own expiry it is settled as spent like any other
    gone = budget.reserve(FAL, "fal", Decimal("0.04"), "agent", later)
    assert gone is not None
    budget.reserve(GEMINI, "gemini", Decimal("0.04"), "agent", later + dt.timedelta(minutes=21))
    states = {r.reservation_id: r.state for r in store.spend_rows(T0.date())}
    assert states[gone.reservation_id] == "settled"


def test_the_service_gives_each_offering_its_own_reservation_expiry(
    sim_config: Config, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    data = sim_config.model_dump(mode="json")
    data["offerings"][FAL]["timeout_seconds"] = 600
    service = Service(Config.model_validate(data), f"sqlite:///{tmp_path / 'p.db'}")
    assert service.budget.policy.expiry_s == 2 * sim_config.defaults.timeout_seconds
    assert service.budget.policy.expiry_by_offering[FAL] == 1200
    assert GEMINI not in service.budget.policy.expiry_by_offering
    service.store.dispose()
