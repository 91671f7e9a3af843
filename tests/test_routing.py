"""Routing policies, effective cost, reasons, hysteresis and the route gauges."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from monitor.health import State
from monitor.interfaces import Gauge, Kind, Outcome, Phase, ProbeResult
from monitor.routing import (
    Constraints,
    Hysteresis,
    Memory,
    OfferingView,
    Policy,
    PolicyName,
    RoutingEngine,
    Snapshot,
    Tier,
    build_snapshot,
    decide,
    effective_cost,
)
from monitor.windows import WindowBook, WindowStats

T0 = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
MODEL = "imagen-4.0-generate-001"


def view(
    provider: str,
    price: str | None = "0.04",
    *,
    ok: int = 30,
    errors: int = 0,
    p95: float = 10.0,
    state: State = State.UP,
) -> OfferingView:
    offering = f"{provider}/{MODEL}"
    stats = WindowStats(
        offering=offering, window="30m", successes=ok, errors=errors, p50_s=p95 / 2, p95_s=p95
    )
    return OfferingView(
        offering=offering,
        provider=provider,
        model=MODEL,
        state=state,
        price_usd=Decimal(price) if price is not None else None,
        windows={"30m": stats},
    )


def route_of(views: list[OfferingView], policy: Policy | None = None):  # type: ignore[no-untyped-def]
    route, _ = decide(policy or Policy(), MODEL, views, Memory(), T0)
    return route


def entry(route, provider: str):  # type: ignore[no-untyped-def]
    return next(e for e in route.entries if e.provider == provider)


def test_effective_cost_is_price_divided_by_success_ratio() -> None:
    assert effective_cost(Decimal("0.03"), 0.75) == Decimal("0.040000")
    assert effective_cost(Decimal("0.03"), 0.0) is None
    assert effective_cost(None, 1.0) is None


def test_cost_first_ranks_by_effective_cost_not_listed_price() -> None:
    # fal lists cheaper but fails a quarter of its attempts: $0.036 / 0.96 vs $0.03 / 0.75
    route = route_of(
        [view("fal", "0.03", ok=30, errors=10), view("vertex", "0.036", ok=29, errors=1)]
    )
    assert route.first is not None and route.first.provider == "vertex"
    assert route.first.weight == 1.0
    assert "effective $" in route.first.reason


def test_every_offering_gets_a_reason_for_its_place_or_exclusion() -> None:
    route = route_of(
        [
            view("vertex"),
            view("gemini", state=State.DOWN),
            view("fal", ok=20, errors=10),
            view("replicate", p95=90.0),
            view("lumenfall", price=None),
        ]
    )
    assert all(e.reason for e in route.entries)
    assert entry(route, "vertex").rank == 1
    assert entry(route, "gemini").tier == Tier.EXCLUDED
    assert entry(route, "gemini").rank == 0
    assert "state is down" in entry(route, "gemini").reason
    assert "below the 95% minimum" in entry(route, "fal").reason
    assert "above the 60s maximum" in entry(route, "replicate").reason
    assert "no listed price" in entry(route, "lumenfall").reason
    assert entry(route, "fal").tier == Tier.FALLBACK and entry(route, "fal").weight == 0


def test_price_ceiling_excludes_dearer_offerings() -> None:
    policy = Policy(constraints=Constraints(max_price_usd=Decimal("0.05")))
    route = route_of([view("vertex", "0.06"), view("fal", "0.04")], policy)
    assert entry(route, "vertex").tier == Tier.EXCLUDED
    assert "above the $0.05 maximum" in entry(route, "vertex").reason


def test_degraded_and_unknown_offerings_are_fallbacks_behind_healthy_ones() -> None:
    route = route_of(
        [
            view("vertex", "0.02", state=State.DEGRADED),
            view("fal", "0.04", state=State.UNKNOWN),
            view("replicate", "0.05"),
        ]
    )
    assert [e.provider for e in route.ranked] == ["replicate", "vertex", "fal"]
    assert [e.tier for e in route.ranked] == [Tier.PRIMARY, Tier.FALLBACK, Tier.FALLBACK]


def test_latency_first_ranks_by_p95_and_needs_no_price() -> None:
    route = route_of(
        [view("vertex", None, p95=20.0), view("fal", "0.02", p95=8.0)],
        Policy(name=PolicyName.LATENCY),
    )
    assert [e.provider for e in route.ranked] == ["fal", "vertex"]
    assert entry(route, "vertex").tier == Tier.PRIMARY


def test_balanced_splits_traffic_between_close_offerings() -> None:
    route = route_of(
        [view("vertex", "0.04", p95=10.0), view("fal", "0.04", p95=11.0), view("gemini", "0.08")],
        Policy(name=PolicyName.BALANCED),
    )
    weights = {e.provider: e.weight for e in route.entries}
    assert weights["vertex"] > weights["fal"] > 0
    assert weights["gemini"] == 0
    assert sum(weights.values()) == pytest.approx(1.0, abs=0.01)


def test_a_small_advantage_does_not_flip_the_route() -> None:
    policy = Policy(hysteresis=Hysteresis(margin=0.05, evaluations=3, hold_seconds=60))
    memory = Memory(incumbent=f"vertex/{MODEL}")
    views = [view("vertex", "0.0400"), view("fal", "0.0390")]
    route, memory = decide(policy, MODEL, views, memory, T0)
    assert route.first is not None and route.first.provider == "vertex"
    assert "under the 5% margin" in route.first.reason
    assert not route.changed


def test_a_challenger_must_win_for_consecutive_evaluations_before_it_takes_over() -> None:
    policy = Policy(hysteresis=Hysteresis(margin=0.05, evaluations=3, hold_seconds=60))
    memory = Memory(incumbent=f"vertex/{MODEL}")
    views = [view("vertex", "0.04"), view("fal", "0.03")]
    firsts = []
    for minute in range(4):
        route, memory = decide(policy, MODEL, views, memory, T0 + dt.timedelta(minutes=minute))
        assert route.first is not None
        firsts.append(route.first.provider)
    assert firsts == ["vertex", "vertex", "fal", "fal"]
    # one noisy evaluation in between resets the count
    memory = Memory(incumbent=f"vertex/{MODEL}")
    sequence = [views, views, [view("vertex", "0.04"), view("fal", "0.0395")], views, views]
    firsts = []
    for minute, vs in enumerate(sequence):
        route, memory = decide(policy, MODEL, vs, memory, T0 + dt.timedelta(minutes=minute))
        assert route.first is not None
        firsts.append(route.first.provider)
    assert firsts == ["vertex"] * 5


def test_an_incumbent_that_goes_down_is_replaced_at_once() -> None:
    memory = Memory(incumbent=f"vertex/{MODEL}")
    route, memory = decide(
        Policy(), MODEL, [view("vertex", "0.02", state=State.DOWN), view("fal")], memory, T0
    )
    assert route.first is not None and route.first.provider == "fal"
    assert route.changed
    assert "replaces vertex" in route.first.reason
    assert memory.incumbent == f"fal/{MODEL}"


def test_engine_evaluates_every_model_and_policy_from_a_snapshot_of_results() -> None:
    offerings = [f"{p}/{MODEL}" for p in ("vertex", "fal")] + ["fal/imagen-4.0-fast-generate-001"]
    results = [
        ProbeResult(
            probe_id=f"{o}-{i}",
            offering=o,
            provider=o.partition("/")[0],
            model=o.partition("/")[2],
            vantage="test",
            kind=Kind.GENERATE,
            outcome=Outcome.OK if (o.startswith("vertex") or i % 2) else Outcome.SERVER_ERROR,
            started_at=T0 - dt.timedelta(minutes=i),
            phases={Phase.TOTAL: 6.0},
        )
        for o in offerings
        for i in range(20)
    ]
    prices = {o: Decimal("0.02") if "fast" in o else Decimal("0.04") for o in offerings}
    snapshot = build_snapshot(
        T0,
        offerings,
        current_price=prices.get,
        state_of=lambda _o: State.UP,
        stats=WindowBook.of(results).stats(T0, offerings=offerings),
    )
    engine = RoutingEngine()
    routes = engine.evaluate(snapshot)
    assert len(routes) == 2 * len(PolicyName)
    cost = engine.routes(policy=PolicyName.COST, model=MODEL)[0]
    assert cost.first is not None and cost.first.provider == "vertex"
    assert entry(cost, "fal").success_ratio == 0.5
    data = cost.as_dict()
    assert data["first"] == f"vertex/{MODEL}"
    assert data["entries"][0]["price_usd"] == "0.04"


def test_gauges_publish_rank_weight_and_effective_cost() -> None:
    engine = RoutingEngine()
    engine.evaluate(
        Snapshot(
            at=T0,
            offerings=(
                view("vertex"),
                view("fal", "0.03", ok=15, errors=15),
                view("gemini", state=State.DOWN),
            ),
        )
    )
    rows = list(engine.gauges())
    ranks = {
        (r.labels["offering"], r.labels["policy"]): r.value
        for r in rows
        if r.name == Gauge.ROUTE_RANK
    }
    assert ranks[(f"vertex/{MODEL}", "cost")] == 1
    assert ranks[(f"gemini/{MODEL}", "cost")] == 0
    costs = {r.labels["offering"]: r.value for r in rows if r.name == Gauge.EFFECTIVE_COST}
    assert costs[f"fal/{MODEL}"] == pytest.approx(0.06)
    cost_row = next(r for r in rows if r.name == Gauge.EFFECTIVE_COST)
    assert set(cost_row.labels) == {"offering", "provider", "model", "unit"}
    weight_row = next(r for r in rows if r.name == Gauge.ROUTE_WEIGHT)
    assert set(weight_row.labels) == {"model", "offering", "policy"}
