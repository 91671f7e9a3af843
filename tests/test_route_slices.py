"""Routing's evaluation on the event loop in slices (monitor/route_slices.py) and the
routes kept between evaluations (RoutingEngine.decide_model): the same routes as deciding
every model afresh, the loop free between models."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from decimal import Decimal

from monitor.health import State
from monitor.interfaces import Outcome
from monitor.pipeline import RecentResults, evaluate_routes
from monitor.route_slices import by_model, evaluate_in_slices
from monitor.routing import DEFAULT_POLICIES, Memory, RoutingEngine, build_snapshot, decide
from tests.test_windows import NOW, result

MODELS = ("imagen-a", "imagen-b", "flux-c", "gpt-d")
OFFERINGS = [f"{p}/{m}" for m in MODELS for p in ("vertex", "fal", "replicate")]
STEP = dt.timedelta(seconds=30)


class World:
    """Prices, states and results that move between evaluations (seeded)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.prices = {o: Decimal("0.04") for o in OFFERINGS}
        self.states = {o: State.UP for o in OFFERINGS}
        self.results: list[tuple[dt.datetime, Outcome, float, str]] = []

    def move(self, now: dt.datetime) -> None:
        rng = self.rng
        for offering in rng.sample(OFFERINGS, 2):  # most models stay as they were
            roll = rng.random()
            if roll < 0.4:
                self.prices[offering] = rng.choice([Decimal(p) for p in ("0.03", "0.040", "0.05")])
            elif roll < 0.6:
                self.states[offering] = rng.choice([State.UP, State.UP, State.DEGRADED])
            else:
                outcome = Outcome.OK if rng.random() < 0.8 else Outcome.SERVER_ERROR
                self.results.append((now, outcome, rng.uniform(2, 12), offering))

    def recent(self) -> RecentResults:
        recent = RecentResults()
        for at, outcome, total, offering in self.results:
            minutes = (NOW - at).total_seconds() / 60
            recent.accept(result(minutes, outcome, total=total, offering=offering))
        return recent


def oracle(
    memory: dict[tuple[str, str], Memory], world: World, now: dt.datetime
) -> list[dict[str, object]]:
    """Every model decided afresh, memory carried by hand: no kept routes, no slices."""
    stats = world.recent().book.stats(now, offerings=OFFERINGS)
    snapshot = build_snapshot(
        now,
        OFFERINGS,
        current_price=world.prices.get,
        state_of=world.states.__getitem__,
        stats=stats,
    )
    out = []
    for model, members in by_model(OFFERINGS):
        views = [v for v in snapshot.offerings if v.offering in members]
        for policy in DEFAULT_POLICIES:
            key = (model, policy.name.value)
            route, memory[key] = decide(policy, model, views, memory.get(key, Memory()), now)
            out.append(route.as_dict())
    return out


async def test_routes_decided_in_slices_or_kept_are_those_decided_afresh() -> None:
    world = World(seed=18)
    memory: dict[tuple[str, str], Memory] = {}
    whole, sliced = RoutingEngine(), RoutingEngine()
    switches = held = 0
    for step in range(80):
        now = NOW + step * STEP
        if step:
            world.move(now - dt.timedelta(seconds=1))
        expected = oracle(memory, world, now)
        switches += sum(1 for r in expected if r["changed"])
        held += sum(1 for r in expected if "held:" in str(r["entries"]))
        routes = evaluate_routes(
            whole,
            now,
            OFFERINGS,
            price_of=world.prices.get,
            state_of=world.states.__getitem__,
            recent=world.recent(),
        )
        await evaluate_in_slices(
            sliced,
            now,
            OFFERINGS,
            price_of=world.prices.get,
            state_of=world.states.__getitem__,
            recent=world.recent(),
            slice_s=0.0,
        )
        assert [r.as_dict() for r in routes] == expected
        by_key = sorted(expected, key=lambda r: (r["model"], r["policy"]))
        assert [r.as_dict() for r in sliced.routes()] == by_key
        assert list(sliced.gauges()) == list(whole.gauges())
    assert switches and held  # hysteresis held challengers back, and let some through


async def test_an_unchanged_evaluation_keeps_every_route_and_the_gauges_version() -> None:
    world = World(seed=1)
    world.prices[OFFERINGS[0]] = Decimal("0.02")
    engine = RoutingEngine()

    def evaluate(at: dt.datetime) -> None:
        evaluate_routes(
            engine,
            at,
            OFFERINGS,
            price_of=world.prices.get,
            state_of=world.states.__getitem__,
            recent=RecentResults(),
        )

    evaluate(NOW)
    evaluate(NOW + STEP)  # the first evaluation set each incumbent: decided again
    version, first = engine.generation, engine.routes()
    evaluate(NOW + 2 * STEP)
    assert engine.generation == version  # nothing moved: /metrics does not re-read routes
    again = engine.routes()
    assert [r.at for r in again] == [NOW + 2 * STEP] * len(again)
    assert [r.entries for r in again] == [r.entries for r in first]
    world.prices[OFFERINGS[1]] = Decimal("0.01")  # fal/imagen-a
    evaluate(NOW + 3 * STEP)
    assert engine.generation == version + 1


async def test_the_loop_runs_between_the_slices_of_an_evaluation() -> None:
    many = [f"p{i % 3}/model-{i // 3:04d}" for i in range(3000)]
    engine, recent = RoutingEngine(), RecentResults()
    ticks: list[int] = []
    done = asyncio.Event()

    async def probe_callbacks() -> None:  # what the loop must keep running
        while not done.is_set():
            ticks.append(len(engine.latest))
            recent.accept(result(1.0, offering=many[len(ticks) % len(many)]))
            await asyncio.sleep(0)

    other = asyncio.create_task(probe_callbacks())
    await evaluate_in_slices(
        engine,
        NOW,
        many,
        price_of=lambda _o: Decimal("0.04"),
        state_of=lambda _o: State.UP,
        recent=recent,
        slice_s=0.001,
    )
    done.set()
    await other
    assert len(engine.latest) == 1000 * len(DEFAULT_POLICIES)
    during = [n for n in ticks if 0 < n < len(engine.latest)]
    assert len(during) >= 5  # ran while part of the models were decided
    assert engine.snapshot is not None
    assert [v.offering for v in engine.snapshot.offerings] == many
