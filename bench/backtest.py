"""Routing backtest: scenarios replayed in virtual time through the real policy code.

Each scenario gives every offering of one model a true state per minute (success
probability, what failures look like, share of slow generations, listed price). The
monitor's probes and price refreshes go to a store (SQLite), and every minute
:func:`monitor.pipeline.replay` rebuilds the monitor's view from it exactly as the service
does at start-up (health from ``monitor.health``, prices from the stored quotes, routing's
windows over the day's generate results) and evaluates the routes, with one
:class:`monitor.routing.RoutingEngine` kept across minutes (its hysteresis memory); 100
requests are then sent along each router's choice for that minute. Probes are sampled
(seeded), traffic is accounted in expectation, so the only noise is what the monitor sees.

Routers compared in the same run: the three policies (``cost`` is the default), ``cost``
without failover, an oracle (this minute's true state, cheapest true cost per success
within the same constraints), static cheapest-listed-price (one deployment, as configured
at the start), round robin and latency-only (lowest observed p50, blind to errors and
price). Policies and the oracle fail over once to their second choice, round robin to a
random other offering; static and latency-only have one deployment.

A request is bad when it fails after failover, when its first attempt timed out (minutes
spent), or when it was served slower than the 60 s objective. A minute violates the SLO
when more than 5 % of its requests are bad. Run alone: ``python -m bench.backtest``.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bench._common import machine, print_table, write_result
from bench._scenarios import MINUTES, MODEL, OFFERINGS, T0, Scenario, Truth, scenarios
from monitor.catalogs import catalog_text, yaml_data
from monitor.config import Config, parse_config
from monitor.health import HealthBook
from monitor.interfaces import Kind, Outcome, Phase, PriceQuote, PriceUnit, ProbeResult
from monitor.pipeline import RecentResults, Replayed, health_policy, replay
from monitor.pricing.state import PriceBook
from monitor.routing import PolicyName, Route, RoutingEngine
from monitor.store import Store

NAME = "backtest"
REQUESTS_PER_MINUTE = 100
PRICE_REFRESH_MINUTES = 10
SLO_SECONDS = 60.0
SLO_BAD_SHARE = 0.05
#: failures of these kinds are billed (the generation ran); the others are not
BILLED_FAILURES = frozenset({Outcome.TIMEOUT})


# -- the monitor's view ---------------------------------------------------------------------


def _probe(rng: random.Random, truth: Truth, offering: str, minute: int) -> ProbeResult:
    ok = rng.random() < truth.success
    if ok:
        slow = rng.random() < truth.slow
        latency = (
            rng.uniform(SLO_SECONDS, 2 * SLO_SECONDS)
            if slow
            else truth.p50_s * math.exp(rng.gauss(0, 0.25))
        )
        outcome = Outcome.OK
    else:
        outcome = truth.failure
        latency = 120.0 if outcome == Outcome.TIMEOUT else 0.5
    provider, _, model = offering.partition("/")
    return ProbeResult(
        probe_id=f"{offering}-{minute}",
        offering=offering,
        provider=provider,
        model=model,
        vantage="backtest",
        kind=Kind.GENERATE,
        outcome=outcome,
        started_at=T0 + dt.timedelta(minutes=minute, seconds=rng.uniform(0, 59)),
        phases={Phase.TOTAL: latency},
    )


def backtest_config() -> Config:
    """The Imagen 4 catalog's five offerings of :data:`MODEL`, with the health engine's
    thresholds of the backtest's earlier stand-in (down after 3 consecutive failures, up
    after 2 successes, no error-ratio or latency rule), so results stay comparable with
    ``bench/results/``."""
    data = yaml_data(catalog_text("imagen4"))
    data["offerings"] = {k: v for k, v in data["offerings"].items() if k in OFFERINGS}
    data["vantage"] = "backtest"  # the probes' (health reads this vantage's results)
    data["health"] = {
        "fail_threshold": 3,
        "recover_threshold": 2,
        "down_error_ratio": 1.0,
        "degraded_error_ratio": 1.0,
        "latency_objective_seconds": None,
    }
    return parse_config(data, origin="backtest")


def _quotes(config: Config, prices: dict[str, Decimal], now: dt.datetime) -> list[PriceQuote]:
    """This refresh's listed prices, as each offering's primary source reports them."""
    return [
        PriceQuote(
            offering=o,
            amount=price,
            currency="USD",
            unit=PriceUnit.IMAGE,
            source=config.offerings[o].pricing_sources[0],
            observed_at=now,
            evidence=f"${price}",
        )
        for o, price in prices.items()
    ]


# -- traffic accounting ---------------------------------------------------------------------

#: a router's decision for one minute: [(first choice, share, failover or None)]
Plan = list[tuple[str, float, str | None]]


@dataclass
class Tally:
    spend: float = 0.0
    successes: float = 0.0
    failed: float = 0.0
    bad_minutes: int = 0
    first_changes: int = 0
    last_first: str | None = None

    def add(self, plan: Plan, truths: dict[str, Truth]) -> None:
        bad = 0.0
        for first, share, failover in plan:
            n = REQUESTS_PER_MINUTE * share
            bad += self._attempt(n, truths[first], failover and truths[failover])
        self.bad_minutes += bad > SLO_BAD_SHARE * REQUESTS_PER_MINUTE
        top = plan[0][0] if plan else None
        self.first_changes += self.last_first is not None and top != self.last_first
        self.last_first = top

    def _attempt(self, n: float, t: Truth, failover: Truth | None) -> float:
        billed = t.success + (1 - t.success) * (t.failure in BILLED_FAILURES)
        self.spend += n * float(t.price) * billed
        self.successes += n * t.success
        fails = n * (1 - t.success)
        bad = n * t.success * t.slow + (fails if t.failure == Outcome.TIMEOUT else 0.0)
        if failover is None:
            self.failed += fails
            return bad + (fails if t.failure != Outcome.TIMEOUT else 0.0)
        fb = failover.success + (1 - failover.success) * (failover.failure in BILLED_FAILURES)
        self.spend += fails * float(failover.price) * fb
        self.successes += fails * failover.success
        lost = fails * (1 - failover.success)
        self.failed += lost
        slow_rescued = fails * failover.success * failover.slow
        return bad + slow_rescued + (lost if t.failure != Outcome.TIMEOUT else 0.0)

    def result(self) -> dict[str, Any]:
        return {
            "cost_per_successful_image_usd": round(self.spend / self.successes, 6),
            "slo_violating_minutes": self.bad_minutes,
            "failed_requests": round(self.failed, 1),
            "first_choice_changes": self.first_changes,
            "spend_usd": round(self.spend, 4),
            "successful_images": round(self.successes, 1),
        }


def _route_plan(route: Route, failover: bool = True) -> Plan:
    ranked = route.ranked
    plan: Plan = []
    for e in ranked:
        if e.weight <= 0:
            continue
        other = next((x.offering for x in ranked if x.offering != e.offering), None)
        plan.append((e.offering, e.weight, other if failover else None))
    if not plan and ranked:
        plan.append((ranked[0].offering, 1.0, None))
    return plan


def _oracle(truths: dict[str, Truth], policy_min: float = 0.95) -> Plan:
    def cost(o: str) -> float:
        t = truths[o]
        billed = t.success + (1 - t.success) * (t.failure in BILLED_FAILURES)
        return float(t.price) * billed / t.success if t.success else math.inf

    def fit(o: str) -> bool:
        return truths[o].success >= policy_min and truths[o].slow <= SLO_BAD_SHARE

    ranked = sorted(OFFERINGS, key=lambda o: (not fit(o), cost(o), o))
    return [(ranked[0], 1.0, ranked[1])]


def run_scenario(scenario: Scenario, seed: int = 7) -> dict[str, Any]:
    rng = random.Random(f"{seed}-{scenario.name}")
    config = backtest_config()
    engine = RoutingEngine()
    static = min(OFFERINGS, key=lambda o: (scenario.truth(0, o).price, o))
    tallies = {name: Tally() for name in ROUTERS}
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/backtest.db")
        store.upgrade()
        for minute in range(MINUTES):
            now = T0 + dt.timedelta(minutes=minute)
            truths = {o: scenario.truth(minute, o) for o in OFFERINGS}
            if minute % PRICE_REFRESH_MINUTES == 0:
                store.save_quotes(_quotes(config, {o: t.price for o, t in truths.items()}, now))
            # the service's start-up path (monitor.pipeline.replay), over the stored history;
            # only the routing engine's hysteresis memory carries over from the last minute
            view = Replayed(
                health=HealthBook(health_policy(config)),
                prices=PriceBook(config, lambda now=now: now),
                recent=RecentResults(),
                routing=engine,
            )
            replay(store, config, now, into=view)
            routes = {r.policy: r for r in engine.routes(model=MODEL)}
            assert engine.snapshot is not None
            stats = {v.offering: v.windows for v in engine.snapshot.offerings}
            observed_p50 = {o: stats[o]["30m"].p50_s or math.inf for o in OFFERINGS}
            fastest = sorted(OFFERINGS, key=lambda o: (observed_p50[o], o))
            for name, plan in _plans(routes, truths, static, fastest).items():
                tallies[name].add(plan, truths)
            for offering in OFFERINGS:
                store.save_result(_probe(rng, truths[offering], offering, minute))
        store.dispose()
    return {name: tally.result() for name, tally in tallies.items()}


def _plans(
    routes: dict[PolicyName, Route], truths: dict[str, Truth], static: str, fastest: list[str]
) -> dict[str, Plan]:
    return {
        "cost (default)": _route_plan(routes[PolicyName.COST]),
        "cost, no failover": _route_plan(routes[PolicyName.COST], failover=False),
        "latency": _route_plan(routes[PolicyName.LATENCY]),
        "balanced": _route_plan(routes[PolicyName.BALANCED]),
        "oracle": _oracle(truths),
        "static cheapest listed price": [(static, 1.0, None)],
        "round robin": [
            (o, 1 / len(OFFERINGS) / (len(OFFERINGS) - 1), other)
            for o in OFFERINGS
            for other in OFFERINGS
            if other != o
        ],
        "latency only": [(fastest[0], 1.0, None)],
    }


ROUTERS = (
    "cost (default)",
    "cost, no failover",
    "latency",
    "balanced",
    "oracle",
    "static cheapest listed price",
    "round robin",
    "latency only",
)


def _totals(per_scenario: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    totals: dict[str, dict[str, Any]] = {}
    for name in ROUTERS:
        rows = [s[name] for s in per_scenario.values()]
        spend = sum(r["spend_usd"] for r in rows)
        images = sum(r["successful_images"] for r in rows)
        totals[name] = {
            "cost_per_successful_image_usd": round(spend / images, 6),
            "slo_violating_minutes": sum(r["slo_violating_minutes"] for r in rows),
            "failed_requests": round(sum(r["failed_requests"] for r in rows), 1),
            "first_choice_changes": sum(r["first_choice_changes"] for r in rows),
        }
    return totals


def main(
    argv: list[str] | None = None, run: Callable[[Scenario], dict[str, Any]] = run_scenario
) -> dict[str, Any]:
    """Run every scenario, write ``bench/results/backtest.json`` and return it."""
    per_scenario = {s.name: run(s) for s in scenarios()}
    totals = _totals(per_scenario)
    default, oracle = totals["cost (default)"], totals["oracle"]
    static = totals["static cheapest listed price"]
    cost_gap = (
        default["cost_per_successful_image_usd"] / oracle["cost_per_successful_image_usd"] - 1
    )
    slo_share = default["slo_violating_minutes"] / max(1, static["slo_violating_minutes"])
    checks = {
        "cost_vs_oracle": {"measured": round(cost_gap, 4), "limit": 0.03, "met": cost_gap <= 0.03},
        "slo_minutes_vs_static": {
            "measured": round(slo_share, 4),
            "limit": 0.10,
            "met": slo_share <= 0.10,
        },
    }
    result = {
        "name": NAME,
        "machine": machine(),
        "parameters": {
            "model": MODEL,
            "offerings": list(OFFERINGS),
            "minutes_per_scenario": MINUTES,
            "requests_per_minute": REQUESTS_PER_MINUTE,
            "probes": "one generate probe per offering per minute",
            "price_refresh_minutes": PRICE_REFRESH_MINUTES,
            "slo": f"a minute violates when > {SLO_BAD_SHARE:.0%} of requests fail, time out "
            f"or take over {SLO_SECONDS:.0f}s",
            "policies": "monitor.routing defaults (min success 95%, max p95 60s, margin 5%, "
            "3 evaluations over >= 60s)",
            "billed_failures": sorted(BILLED_FAILURES),
        },
        "scenarios": per_scenario,
        "totals": totals,
        "target": "default policy cost per successful image within 3% of the oracle's; its "
        "SLO-violating minutes at most 10% of static cheapest-listed-price routing's",
        "target_checks": checks,
        "met": all(c["met"] for c in checks.values()),
        "headline": f"default policy cost {cost_gap:+.2%} vs oracle, SLO minutes "
        f"{default['slo_violating_minutes']} vs static {static['slo_violating_minutes']}",
        "notes": [
            f"default policy ${default['cost_per_successful_image_usd']} vs oracle "
            f"${oracle['cost_per_successful_image_usd']} per successful image "
            f"({cost_gap:+.2%}); SLO-violating minutes {default['slo_violating_minutes']} vs "
            f"static {static['slo_violating_minutes']} ({slo_share:.1%}).",
            "Traffic is accounted in expectation from each minute's true state; only the "
            "monitor's probes are sampled, so differences come from what the monitor saw.",
            "The view is rebuilt every minute by monitor.pipeline.replay from a SQLite store "
            "holding the probes and price quotes so far; health is monitor.health with the "
            "thresholds of the earlier stand-in (3 failures down, 2 successes up, no "
            "error-ratio or latency rule).",
        ],
    }
    write_result(NAME, result)
    rows = [["router", "$/image", "SLO min", "failed", "changes"]]
    for name, t in totals.items():
        rows.append(
            [
                name,
                f"{t['cost_per_successful_image_usd']:.6f}",
                str(t["slo_violating_minutes"]),
                f"{t['failed_requests']:.0f}",
                str(t["first_choice_changes"]),
            ]
        )
    print_table(rows)
    print(f"target met: {result['met']} ({checks})")
    return result


if __name__ == "__main__":
    main()
