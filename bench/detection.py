"""Outage detection against probe spend, replayed in virtual time.

One offering at $0.04 per image is watched through scripted scenarios by two monitors in
the same run:

- ``provmon``: the product's own decision code — :func:`monitor.health.step` (two tiers),
  :func:`monitor.cadence.plan_control` / :func:`~monitor.cadence.plan_generate` (free
  control probes every 30 s, paid probes at the budget's cadence, early confirmation) and
  :class:`monitor.budget.Budget` on a :class:`~monitor.budget.MemoryLedger` ($1 per day);
- ``baseline``: the common default of existing monitors — a paid generation every 60 s,
  ``down`` after 3 consecutive failures (any non-success, 429 included), ``up`` after 2
  successes (Gatus' thresholds), no budget.

Time is virtual (an event queue; nothing sleeps), so a simulated week takes seconds.
Scenarios: ``hard_outage`` (every call fails fast), ``generation_outage`` (control calls
still succeed) with and without passive traffic from a gateway, ``partial_outage`` (30%
errors), ``latency_degradation`` (images take 6x longer than usual), ``rate_limit_storm``
(an hour of 429s), ``flaky_week`` (2% random errors for 7 days) and ``retirement`` (the
model answers 404 from then on). Outage starts are drawn at random over many trials.

Run alone: ``python -m bench.detection`` (``--trials`` scales the trial counts).
"""

from __future__ import annotations

import argparse
import datetime as dt
import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bench._common import machine, print_table, quantile, write_result
from monitor.budget import Budget, BudgetPolicy, MemoryLedger, Purpose, keeps_reservation
from monitor.cadence import CadencePolicy, plan_control, plan_generate
from monitor.health import BAD, HealthPolicy, HealthState, Sample, State, step
from monitor.interfaces import Outcome

NAME = "detection"
OFFERING = "fal/imagen-4.0-generate-001"
PRICE = Decimal("0.04")
DAILY_CAP = Decimal(1)
T0 = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
HOUR = 3600.0
#: entering a bad state this long after an outage ended still belongs to it
GRACE_S = 900.0
#: retry a paid probe this long after the budget refused it
BUDGET_RETRY_S = 300.0
HEALTH = HealthPolicy(latency_objective_s=30.0)
CADENCE = CadencePolicy()
BASELINE_INTERVAL_S = 60.0

World = Callable[[str, float, random.Random], tuple[Outcome, float]]


def healthy(kind: str, rng: random.Random) -> tuple[Outcome, float]:
    if kind == "control":
        return Outcome.OK, rng.uniform(0.05, 0.3)
    return Outcome.OK, rng.lognormvariate(math.log(8.0), 0.25)


@dataclass(frozen=True, kw_only=True)
class Scenario:
    name: str
    trials: int
    #: (warm-up before the earliest start, spread of start times, outage length, after)
    warmup_s: float
    spread_s: float
    outage_s: float
    after_s: float
    #: what a call returns during the outage
    during: Callable[[str, random.Random], tuple[Outcome, float]]
    detect: frozenset[State] = frozenset({State.DOWN})
    baseline_detect: frozenset[State] = frozenset({State.DOWN})
    #: passive samples per hour of real traffic reported by a gateway (0: none)
    passive_per_hour: float = 0.0
    #: calls outside the outage fail at this rate (the flaky week)
    background_error: float = 0.0
    expect_outage: bool = True


def fail_fast(outcome: Outcome) -> Callable[[str, random.Random], tuple[Outcome, float]]:
    return lambda kind, rng: (outcome, rng.uniform(0.02, 0.1))


def generation_fails(kind: str, rng: random.Random) -> tuple[Outcome, float]:
    if kind == "control":
        return healthy(kind, rng)
    return Outcome.SERVER_ERROR, rng.uniform(0.5, 2.0)


def partial(kind: str, rng: random.Random) -> tuple[Outcome, float]:
    if rng.random() < 0.3:
        return Outcome.SERVER_ERROR, rng.uniform(0.1, 1.0)
    return healthy(kind, rng)


def slow(kind: str, rng: random.Random) -> tuple[Outcome, float]:
    outcome, latency = healthy(kind, rng)
    return outcome, latency * 6 if kind != "control" else latency


BAD_OR_DOWN = frozenset({State.DEGRADED, State.DOWN})


def scenarios(scale: float) -> list[Scenario]:
    def n(count: int) -> int:
        return max(3, round(count * scale))

    week = 7 * 24 * HOUR
    return [
        Scenario(
            name="hard_outage",
            trials=n(300),
            warmup_s=HOUR,
            spread_s=HOUR,
            outage_s=600,
            after_s=1800,
            during=fail_fast(Outcome.CONNECT_ERROR),
        ),
        Scenario(
            name="generation_outage",
            trials=n(60),
            warmup_s=2 * HOUR,
            spread_s=6 * HOUR,
            outage_s=6 * HOUR,
            after_s=4 * HOUR,
            during=generation_fails,
        ),
        Scenario(
            name="generation_outage_passive",
            trials=n(60),
            warmup_s=2 * HOUR,
            spread_s=6 * HOUR,
            outage_s=6 * HOUR,
            after_s=4 * HOUR,
            during=generation_fails,
            passive_per_hour=60.0,
        ),
        Scenario(
            name="partial_outage",
            trials=n(60),
            warmup_s=2 * HOUR,
            spread_s=HOUR,
            outage_s=2 * HOUR,
            after_s=2 * HOUR,
            during=partial,
            detect=BAD_OR_DOWN,
        ),
        Scenario(
            name="latency_degradation",
            trials=n(60),
            warmup_s=2 * HOUR,
            spread_s=6 * HOUR,
            outage_s=8 * HOUR,
            after_s=8 * HOUR,
            during=slow,
            detect=BAD_OR_DOWN,
            baseline_detect=BAD_OR_DOWN,
        ),
        Scenario(
            name="rate_limit_storm",
            trials=n(60),
            warmup_s=2 * HOUR,
            spread_s=HOUR,
            outage_s=HOUR,
            after_s=2 * HOUR,
            during=fail_fast(Outcome.RATE_LIMITED),
            expect_outage=False,
        ),
        Scenario(
            name="flaky_week",
            trials=max(2, round(6 * scale)),
            warmup_s=0,
            spread_s=0,
            outage_s=0,
            after_s=week,
            during=healthy_during,
            background_error=0.02,
            expect_outage=False,
        ),
        Scenario(
            name="retirement",
            trials=n(60),
            warmup_s=HOUR,
            spread_s=HOUR,
            outage_s=12 * HOUR,
            after_s=0,
            during=fail_fast(Outcome.MODEL_UNAVAILABLE),
            detect=frozenset({State.RETIRED}),
        ),
    ]


def healthy_during(kind: str, rng: random.Random) -> tuple[Outcome, float]:
    return healthy(kind, rng)


@dataclass
class Trace:
    """What one monitor did in one trial: state changes and money."""

    changes: list[tuple[float, State]] = field(default_factory=list)
    spend: Decimal = Decimal(0)
    #: spend per UTC day: the budget's promise is about these
    by_day: dict[dt.date, Decimal] = field(default_factory=dict)
    paid_probes: int = 0
    skipped_budget: int = 0

    def bill(self, t: float) -> None:
        self.spend += PRICE
        day = at(t).date()
        self.by_day[day] = self.by_day.get(day, Decimal(0)) + PRICE

    def record(self, t: float, state: State) -> None:
        if not self.changes or self.changes[-1][1] != state:
            self.changes.append((t, state))


def make_world(sc: Scenario, start: float, end: float) -> World:
    def world(kind: str, t: float, rng: random.Random) -> tuple[Outcome, float]:
        if start <= t < end:
            return sc.during(kind, rng)
        if sc.background_error and rng.random() < sc.background_error:
            return Outcome.SERVER_ERROR, rng.uniform(0.1, 1.0)
        return healthy(kind, rng)

    return world


def at(t: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=t)


def run_provmon(world: World, sc: Scenario, horizon: float, rng: random.Random) -> Trace:
    """The product's logic on an event queue: a job per kind, re-planned after every sample."""
    budget = Budget(BudgetPolicy(offering_daily_usd=DAILY_CAP), MemoryLedger(), [OFFERING])
    trace, health = Trace(), HealthState()
    queue: list[tuple[float, int, str, Any]] = []
    token = {"control": 0, "generate": 0}
    busy = {"control": False, "generate": False}
    seq = 0

    def push(t: float, what: str, data: Any = None) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(queue, (t, seq, what, data))

    def schedule(kind: str, t: float) -> None:
        token[kind] += 1
        push(t, kind, token[kind])

    def replan(now: float) -> None:
        if not busy["control"]:
            schedule("control", _secs(plan_control(health, CADENCE, at(now)).at))
        if not busy["generate"]:
            interval = budget.regular_interval(OFFERING, PRICE, at(now))
            planned = plan_generate(health, CADENCE, at(now), interval)
            schedule("generate", _secs(planned.at))

    schedule("control", rng.uniform(0, CADENCE.control_interval_s))
    schedule("generate", rng.uniform(0, 5.0))
    if sc.passive_per_hour:
        push(rng.expovariate(sc.passive_per_hour / HOUR), "passive")
    while queue:
        t, _, what, data = heapq.heappop(queue)
        if t > horizon:
            break
        if what in ("control", "generate"):
            if data != token[what] or busy[what]:
                continue
            reservation = None
            if what == "generate":
                interval = budget.regular_interval(OFFERING, PRICE, at(t))
                purpose = plan_generate(health, CADENCE, at(t), interval).purpose
                reservation = budget.reserve(OFFERING, "fal", PRICE, "bench", at(t), purpose)
                if reservation is None:
                    trace.skipped_budget += 1
                    schedule(what, t + BUDGET_RETRY_S)
                    continue
                trace.paid_probes += 1
            outcome, latency = world(what, t, rng)
            busy[what] = True
            push(t + latency, "result", (what, outcome, latency, t, reservation))
        elif what == "passive":
            outcome, latency = world("generate", t, rng)
            push(
                t + latency,
                "sample",
                Sample(outcome=outcome, at=at(t), latency_s=latency, kind="passive"),
            )
            push(t + rng.expovariate(sc.passive_per_hour / HOUR), "passive")
        else:
            if what == "result":
                kind, outcome, latency, sent, reservation = data
                busy[kind] = False
                if reservation is not None:
                    billed = keeps_reservation(outcome)
                    budget.settle(reservation, billed, at(t))
                    if billed:
                        trace.bill(sent)
                sample = Sample(outcome=outcome, at=at(sent), latency_s=latency, kind=kind)
            else:
                sample = data
            health = step(HEALTH, health, sample)
            trace.record(t, health.state)
            replan(t)
    return trace


def _secs(when: dt.datetime) -> float:
    return (when - T0).total_seconds()


def run_baseline(world: World, horizon: float, rng: random.Random) -> Trace:
    """A paid probe every 60 s; down after 3 failures in a row, up after 2 successes."""
    trace, state, fails, oks = Trace(), State.UNKNOWN, 0, 0
    t = rng.uniform(0, BASELINE_INTERVAL_S)
    while t <= horizon:
        outcome, latency = world("generate", t, rng)
        trace.paid_probes += 1
        if keeps_reservation(outcome):
            trace.bill(t)
        if outcome == Outcome.OK:
            fails, oks = 0, oks + 1
            if state != State.DOWN or oks >= 2:
                state = State.UP
        else:
            fails, oks = fails + 1, 0
            if fails >= 3:
                state = State.DOWN
        trace.record(t + latency, state)
        t += BASELINE_INTERVAL_S
    return trace


def measure(
    trace: Trace, sc: Scenario, start: float, end: float, detect: frozenset[State], horizon: float
) -> dict[str, Any]:
    detected = recovered = None
    false_down = false_any = 0
    for t, state in trace.changes:
        inside = sc.expect_outage and start <= t < end + GRACE_S
        if state in BAD and not inside:
            false_any += 1
            false_down += state == State.DOWN
        if detected is None and sc.expect_outage and start <= t and state in detect:
            detected = t - start
        if detected is not None and recovered is None and t >= end and state == State.UP:
            recovered = t - end
    return {
        "detect_s": detected,
        "recover_s": recovered,
        "false_down": false_down,
        "false_alarms": false_any,
        "spend_per_day": float(trace.spend) / (horizon / (24 * HOUR)),
        "max_day_spend": float(max(trace.by_day.values(), default=Decimal(0))),
        "paid_probes": trace.paid_probes,
        "skipped_budget": trace.skipped_budget,
    }


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def dist(key: str) -> dict[str, Any]:
        values = sorted(r[key] for r in rows if r[key] is not None)
        missed = sum(1 for r in rows if r[key] is None)
        if not values:
            return {"count": 0, "missed": missed}
        return {
            "count": len(values),
            "missed": missed,
            "p50": round(quantile(values, 0.5), 2),
            "p95": round(quantile(values, 0.95), 2),
            "max": round(values[-1], 2),
        }

    return {
        "detect_s": dist("detect_s"),
        "recover_s": dist("recover_s"),
        "false_down": sum(r["false_down"] for r in rows),
        "false_alarms": sum(r["false_alarms"] for r in rows),
        "spend_per_day_usd": round(sum(r["spend_per_day"] for r in rows) / len(rows), 3),
        "max_spend_in_one_utc_day_usd": round(max(r["max_day_spend"] for r in rows), 3),
        "paid_probes_per_trial": round(sum(r["paid_probes"] for r in rows) / len(rows), 1),
        "skipped_budget_per_trial": round(sum(r["skipped_budget"] for r in rows) / len(rows), 1),
    }


def run_scenario(sc: Scenario, seed: int) -> dict[str, Any]:
    rows: dict[str, list[dict[str, Any]]] = {"provmon": [], "baseline": []}
    for trial in range(sc.trials):
        rng = random.Random(f"{seed}:{sc.name}:{trial}")
        start = sc.warmup_s + rng.uniform(0, sc.spread_s)
        end = start + sc.outage_s
        horizon = end + sc.after_s
        world = make_world(sc, start, end)
        for who in rows:
            trial_rng = random.Random(f"{seed}:{sc.name}:{trial}:{who}")
            if who == "provmon":
                trace = run_provmon(world, sc, horizon, trial_rng)
                detect = sc.detect
            else:
                trace = run_baseline(world, horizon, trial_rng)
                detect = sc.baseline_detect
            rows[who].append(measure(trace, sc, start, end, detect, horizon))
    out: dict[str, Any] = {who: summarise(r) for who, r in rows.items()}
    out["trials"] = sc.trials
    out["ratios"] = ratios(out["provmon"], out["baseline"])
    return out


def ratios(ours: dict[str, Any], base: dict[str, Any]) -> dict[str, float | None]:
    """baseline / provmon: above 1 means provmon is faster or cheaper."""

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 2) if a is not None and b else None

    return {
        "detect_p95_baseline_over_provmon": ratio(
            base["detect_s"].get("p95"), ours["detect_s"].get("p95")
        ),
        "spend_baseline_over_provmon": ratio(base["spend_per_day_usd"], ours["spend_per_day_usd"]),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.detection",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--trials", type=float, default=1.0, help="scale every scenario's trial count (default 1.0)"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    results = {}
    for sc in scenarios(args.trials):
        print(f"[{NAME}] {sc.name}: {sc.trials} trials", flush=True)
        results[sc.name] = run_scenario(sc, args.seed)
    checks = target_checks(results)
    data = {
        "name": NAME,
        "machine": machine(),
        "parameters": parameters(args.seed),
        "target": "hard outage down within 30 s at p95; paid probes <= $1 per offering per "
        "day at $0.04; no false down over the flaky week",
        "target_checks": checks,
        "met": all(c["met"] for c in checks),
        "scenarios": results,
    }
    write_result(NAME, data)
    print_summary(results, checks)
    return data


def target_checks(results: dict[str, Any]) -> list[dict[str, Any]]:
    hard = results["hard_outage"]["provmon"]["detect_s"]
    flaky = results["flaky_week"]["provmon"]
    spend = max(r["provmon"]["max_spend_in_one_utc_day_usd"] for r in results.values())
    return [
        {
            "check": "hard_outage detect p95 (s)",
            "target": 30.0,
            "measured": hard.get("p95"),
            "met": hard.get("missed") == 0 and hard.get("p95", math.inf) <= 30.0,
        },
        {
            "check": "paid spend in any one UTC day, every trial of every scenario (USD)",
            "target": 1.0,
            "measured": spend,
            "met": spend <= 1.0,
        },
        {
            "check": "false down over the flaky week",
            "target": 0,
            "measured": flaky["false_down"],
            "met": flaky["false_down"] == 0,
        },
    ]


def parameters(seed: int) -> dict[str, Any]:
    return {
        "seed": seed,
        "price_usd_per_image": str(PRICE),
        "budget_usd_per_offering_per_day": str(DAILY_CAP),
        "confirm_share": str(BudgetPolicy().confirm_share),
        "health_policy": {k: v for k, v in vars(HEALTH).items()},
        "cadence_policy": {k: v for k, v in vars(CADENCE).items()},
        "baseline": "paid probe every 60 s, down after 3 consecutive failures (429 "
        "included), up after 2 successes, no latency objective",
        "healthy_latency": "control 0.05-0.3 s; generate lognormal median 8 s, sigma 0.25",
        "grace_after_outage_s": GRACE_S,
        "purpose_confirm": Purpose.CONFIRM.value,
    }


def print_summary(results: dict[str, Any], checks: list[dict[str, Any]]) -> None:
    rows = [
        [
            "scenario",
            "who",
            "detect p50",
            "detect p95",
            "missed",
            "recover p95",
            "false down",
            "false alarms",
            "$/day",
        ]
    ]
    for name, res in results.items():
        for who in ("provmon", "baseline"):
            r = res[who]
            rows.append(
                [
                    name,
                    who,
                    str(r["detect_s"].get("p50", "-")),
                    str(r["detect_s"].get("p95", "-")),
                    str(r["detect_s"]["missed"]),
                    str(r["recover_s"].get("p95", "-")),
                    str(r["false_down"]),
                    str(r["false_alarms"]),
                    str(r["spend_per_day_usd"]),
                ]
            )
    print_table(rows)
    for c in checks:
        print(f"{c['check']}: {c['measured']} (target {c['target']}) met={c['met']}")


if __name__ == "__main__":
    main()
