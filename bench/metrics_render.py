"""``/metrics`` render time at 1,000 offerings: ``/metrics``'s renderer vs ``generate_latest``.

Issue 8: at 1,000 offerings the exposition is ~250,000 samples (mostly histogram bucket
lines) and client_python's ``generate_latest`` took ~10 s per scrape in the soak. The
target is a render in <= 50 ms (p99) at that size.

Both sides are built in this process from the same inputs:

- the soak's 1,000-offering config (200 models x 5 providers, :func:`bench.soak.soak_config`;
  built in code, nothing is started);
- ``Metrics`` as the service builds it: ``init_offerings``, then results for every
  offering, both kinds, phases connect/ttfb/download/total plus queue/inference for the
  queue-based providers (fal, replicate), outcomes mixed (mostly ``ok``), paid
  generations adding spend; a state per offering and the scrape-time gauges a real
  deployment adds per offering (price, staleness, effective cost, route rank and weight
  for three policies) plus budget and price-source gauges, every one read again at every
  scrape (the worst case: the service re-reads routes only after an evaluation);
- the "plain" registry: the same metrics as client_python ``Histogram``/``Counter``/
  ``Gauge`` objects plus a collector yielding the same scrape-time families (what
  ``monitor/metrics.py`` was before issue 8), fed the same results.

Timed: what ``/metrics`` does, ``render_chunks()`` (in its worker thread) then every piece
of ``pieces()`` (as the socket takes them), over 50 scrapes, each after a scrape interval's
worth of new results (30 s: one control result per offering, a generate result for a fifth
of them), so the series those results touched are rendered again inside the timed call;
the same with nothing changed; ``render_chunks()`` alone (the part before the first byte);
``generate_latest`` of the plain registry (fewer scrapes: each takes seconds); gzip of the
rendered text at levels 1 and 6 (what ``Accept-Encoding: gzip`` would add). The two
expositions are compared line for line (client_python's ``_created`` series, which
``render()`` leaves out, removed first).

Then, issue 18: :mod:`bench.metrics_load` (the service's own ``/metrics`` at the default
metrics detail, rendered every 0.5 s while ~33 results a second land with their CPU):
``render_p99_ms_under_load`` and ``series_per_offering`` (target p99 <= 50 ms, <= 60).

Run alone: ``python -m bench.metrics_render`` (``--scrapes``, ``--baseline-scrapes``,
``--load-offerings``, ``--load-seconds``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import random
import time
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    generate_latest,
)

from bench import metrics_load
from bench._common import machine, render_once, summary_ms, write_result
from bench._plain import Plain, PlainStates
from bench.soak import soak_config
from monitor.config import Config
from monitor.config_sections import MetricsConfig
from monitor.health import State
from monitor.interfaces import Gauge as GaugeKind
from monitor.interfaces import Kind, Outcome, Phase, ProbeResult
from monitor.metrics import GaugeRow, Metrics, StateRow

NAME = "metrics_render"
TARGET_MS = 50.0
SCRAPES = 50
BASELINE_SCRAPES = 5
QUEUED = ("fal", "replicate")
POLICIES = ("cost", "latency", "balanced")
#: outcomes of the synthetic results, by weight: mostly ok, every failure path present
OUTCOMES = [Outcome.OK] * 40 + list(Outcome)
STARTED = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


class World:
    """1,000 offerings' states and scrape-time gauges, as the engines would report them."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.rows = [
            (o, config.provider_of(o), config.model_of(o)) for o in config.enabled_offerings()
        ]
        rnd = random.Random(8)
        self.state = {o: rnd.choice([State.UP] * 8 + list(State)) for o, _, _ in self.rows}
        self.price = {o: round(rnd.uniform(0.02, 0.08), 3) for o, _, _ in self.rows}

    def states(self) -> Iterable[StateRow]:
        vantage = self.config.vantage
        for offering, provider, model in self.rows:
            yield StateRow(
                offering=offering,
                provider=provider,
                model=model,
                vantage=vantage,
                state=self.state[offering],
            )

    def gauges(self) -> Iterable[GaugeRow]:
        for offering, provider, model in self.rows:
            price = self.price[offering]
            unit = {"offering": offering, "provider": provider, "model": model, "unit": "image"}
            yield GaugeRow(name=GaugeKind.PRICE, labels={**unit, "source": provider}, value=price)
            yield GaugeRow(
                name=GaugeKind.PRICE_STALE,
                labels={"offering": offering, "source": provider},
                value=0.0,
            )
            yield GaugeRow(name=GaugeKind.EFFECTIVE_COST, labels=unit, value=price / 0.97)
            for rank, policy in enumerate(POLICIES, start=1):
                labels = {"model": model, "offering": offering, "policy": policy}
                yield GaugeRow(name=GaugeKind.ROUTE_RANK, labels=labels, value=float(rank))
                yield GaugeRow(name=GaugeKind.ROUTE_WEIGHT, labels=dict(labels), value=0.2)
        for provider in sorted({p for _, p, _ in self.rows}):
            yield GaugeRow(
                name=GaugeKind.PRICE_FETCH_SUCCESS, labels={"source": provider}, value=1.0
            )
        yield GaugeRow(name=GaugeKind.BUDGET, labels={"scope": "day"}, value=100000.0)
        yield GaugeRow(name=GaugeKind.BUDGET_REMAINING, labels={"scope": "day"}, value=99812.5)


def results(config: Config, rnd: random.Random, generate_share: float) -> Iterator[ProbeResult]:
    """One scrape interval of results: a control probe per offering, some generations."""
    for offering in config.enabled_offerings():
        provider = config.provider_of(offering)
        kinds = [Kind.CONTROL] + ([Kind.GENERATE] if rnd.random() < generate_share else [])
        for kind in kinds:
            outcome = rnd.choice(OUTCOMES)
            # the phases the probes record: a control probe's connect (when a connection
            # was opened), ttfb and total; a generation's download, and queue and
            # inference where the provider queues
            phases = {
                Phase.CONNECT: rnd.uniform(0.002, 0.08),
                Phase.TTFB: rnd.uniform(0.05, 0.6),
            }
            if kind is Kind.GENERATE:
                phases[Phase.DOWNLOAD] = rnd.uniform(0.001, 0.3)
                if provider in QUEUED:
                    phases[Phase.QUEUE] = rnd.uniform(0.1, 20)
                    phases[Phase.INFERENCE] = rnd.uniform(2, 40)
                phases[Phase.TOTAL] = sum(phases.values()) + rnd.uniform(0, 300) * (
                    outcome is Outcome.TIMEOUT
                )
            else:
                phases[Phase.TOTAL] = sum(phases.values())
            yield ProbeResult(
                probe_id="bench",
                offering=offering,
                provider=provider,
                model=config.model_of(offering),
                vantage=config.vantage,
                kind=kind,
                outcome=outcome,
                started_at=STARTED,
                phases=phases,
                cost_usd=Decimal("0.04") if kind is Kind.GENERATE else Decimal(0),
            )


def without_created(text: bytes) -> list[str]:
    """The exposition's lines without client_python's ``*_created`` families."""
    lines, skip = [], False
    for line in text.decode().splitlines():
        if line.startswith("# HELP "):
            skip = line.split()[2].endswith("_created")
        if not skip:
            lines.append(line)
    return lines


def measure(scrapes: int, baseline_scrapes: int) -> dict[str, Any]:
    config = soak_config("http://127.0.0.1:9")
    world = World(config)
    # detail full (what plain client_python objects export), every gauge read at the
    # scrape: the synchronous render, compared line for line with generate_latest
    synchronous = MetricsConfig(detail="full", gauges_inline_ms=60_000)
    metrics = Metrics(CollectorRegistry(auto_describe=True), synchronous)
    plain = Plain(metrics)
    plain.registry.register(PlainStates(world))
    deadline = {Kind.CONTROL: 30.0, Kind.GENERATE: 300.0}
    config = config.model_copy(update={"metrics": synchronous})
    metrics.init_offerings(config, lambda _o, kind: deadline[kind])
    for offering in config.enabled_offerings():
        provider, model = config.provider_of(offering), config.model_of(offering)
        for kind in Kind:
            for outcome in Outcome:
                plain.probes.labels(
                    offering, provider, model, config.vantage, kind.value, outcome.value
                )
            plain.timeout.labels(offering, kind.value).set(deadline[kind])
        plain.spend.labels(offering, provider)
        plain.served_model_changes.labels(offering)
        for reason in ("missed", "overlap", "budget", "no_price"):
            plain.skipped.labels(offering, reason)
    metrics.watch_states(world.states)
    metrics.add_gauges(world.gauges)
    rnd = random.Random(8)

    accept_s = {"render": 0.0, "plain": 0.0}

    def land(generate_share: float) -> int:
        batch = list(results(config, rnd, generate_share))
        began = time.perf_counter()
        for result in batch:
            metrics.accept(result)
        accept_s["render"] += time.perf_counter() - began
        began = time.perf_counter()
        for result in batch:
            plain.accept(result)
        accept_s["plain"] += time.perf_counter() - began
        return len(batch)

    # warm: every offering has run both kinds (so every series exists) a few times
    landed = land(1.0) + land(1.0) + land(0.2) + land(0.2)

    accept_s.update(render=0.0, plain=0.0)
    warm = landed
    first = metrics.render()  # also renders every series once
    reference = generate_latest(plain.registry)
    equivalent = sorted(first.decode().splitlines()) == sorted(without_created(reference))
    lines = first.count(b"\n") - first.count(b"\n#")
    bucket_lines = first.count(b"_bucket{")

    during: list[float] = []
    per_scrape = 0
    for _ in range(scrapes):
        per_scrape = land(0.2)  # 30 s of results: control everywhere, a fifth generate
        landed += per_scrape
        during.append(render_once(metrics))
    idle: list[float] = []
    gather: list[float] = []
    for _ in range(scrapes):
        idle.append(render_once(metrics))
        began = time.perf_counter()
        metrics.render_chunks()
        gather.append(time.perf_counter() - began)
    text = metrics.render()
    # what no renderer avoids: the scrape-time sources (the engines' rows) and one copy of
    # the whole exposition (into response bytes or, piece by piece, into the socket)
    sources: list[float] = []
    copy: list[float] = []
    pieces = [text[i : i + 4096] for i in range(0, len(text), 4096)]
    for _ in range(10):
        began = time.perf_counter()
        list(world.states())
        list(world.gauges())
        sources.append(time.perf_counter() - began)
        began = time.perf_counter()
        b"".join(pieces)
        copy.append(time.perf_counter() - began)
    baseline: list[float] = []
    for _ in range(baseline_scrapes):
        began = time.perf_counter()
        reference = generate_latest(plain.registry)
        baseline.append(time.perf_counter() - began)
    equivalent = equivalent and sorted(text.decode().splitlines()) == sorted(
        without_created(reference)
    )
    zipped: dict[str, Any] = {}
    for level in (1, 6):
        took = []
        for _ in range(3):
            began = time.perf_counter()
            packed = gzip.compress(text, compresslevel=level)
            took.append(time.perf_counter() - began)
        zipped[f"level_{level}"] = {"ms": summary_ms(took), "bytes": len(packed)}

    render_p99 = summary_ms(during)["p99"]
    return {
        "offerings": len(config.enabled_offerings()),
        "results_landed": landed,
        "results_between_scrapes": per_scrape,
        "exposition": {
            "bytes": len(text),
            "samples": lines,
            "histogram_bucket_lines": bucket_lines,
            "generate_latest_bytes": len(reference),
            "generate_latest_samples": reference.count(b"\n") - reference.count(b"\n#"),
        },
        "render_ms": summary_ms(during),
        "render_unchanged_ms": summary_ms(idle),
        "render_chunks_only_ms": summary_ms(gather),
        "floor_ms": {
            "scrape_time_sources": summary_ms(sources),
            "join_exposition_bytes": summary_ms(copy),
        },
        "generate_latest_ms": summary_ms(baseline),
        "speedup_p50": round(summary_ms(baseline)["p50"] / max(summary_ms(during)["p50"], 1e-9), 1),
        "gzip": zipped,
        "accept_us_per_result": {
            "render_store": round(accept_s["render"] / (landed - warm) * 1e6, 1),
            "client_python": round(accept_s["plain"] / (landed - warm) * 1e6, 1),
        },
        "equivalent_to_generate_latest": equivalent,
        "met": render_p99 <= TARGET_MS and equivalent,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.metrics_render",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--scrapes", type=int, default=SCRAPES)
    parser.add_argument("--baseline-scrapes", type=int, default=BASELINE_SCRAPES)
    parser.add_argument("--load-offerings", type=int, default=1000)
    parser.add_argument("--load-seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    print(f"[{NAME}] 1,000 offerings, {args.scrapes} renders", flush=True)
    found = measure(args.scrapes, args.baseline_scrapes)
    # issue 18: the service's own /metrics (metrics detail default) while results land
    print(f"[{NAME}] under load: {args.load_offerings} offerings, {args.load_seconds:g} s")
    load = metrics_load.measure(args.load_offerings, args.load_seconds, 0.5, 5.0)
    found["under_load"] = load
    found["render_p99_ms_under_load"] = load["render_p99_ms_under_load"]
    found["series_per_offering"] = load["series_per_offering"]
    found["met"] = found["met"] and load["met_render"] and load["series_per_offering"] <= 60
    result = {
        "benchmark": NAME,
        "machine": machine(),
        "target": (
            f"/metrics render (Metrics.render) p99 <= {TARGET_MS:g} ms at 1,000 offerings, "
            "each render after a scrape interval of new results, the same samples as "
            "generate_latest (less _created); and p99 <= 50 ms while results land "
            "(render_p99_ms_under_load), <= 60 series per offering"
        ),
        "target_ms": TARGET_MS,
        **found,
    }
    path = write_result(NAME, result)
    print(
        f"[{NAME}] wrote {path}: render p50 {found['render_ms']['p50']} ms p99 "
        f"{found['render_ms']['p99']} ms, under load p99 {found['render_p99_ms_under_load']} "
        f"ms, {found['series_per_offering']} series per offering, generate_latest p50 "
        f"{found['generate_latest_ms']['p50']} ms, met={found['met']}",
        flush=True,
    )
    return result


if __name__ == "__main__":
    main()
