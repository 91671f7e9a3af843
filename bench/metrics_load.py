"""``/metrics`` render time while probe results land (issue 18: p99 <= 50 ms at 1,000
offerings under full probing load), and the series each offering costs.

The service's own objects, in this process, nothing started: ``Service`` built on the
soak's config (:func:`bench.soak.soak_config`, 1,000 offerings at the default metrics
detail), so ``/metrics`` reads the real engines' sources (prices, budget, lifecycle,
account problems, states, routes). A feeder thread hands ``Service.pipeline`` (store
writer, metrics, health, windows, observers: what the runner does with each result) a
probe result every 30 s per offering (~33 a second at 1,000), a generation for one in ten,
failures mixed in so that states change; routes are evaluated on the service's timer
(``routing.evaluate_seconds``, 30 s) and a price change is counted every 10 s. Each result
also costs ``--probe-cpu-ms`` of pure-Python work holding the GIL, standing in for the rest
of a probe (HTTP, parsing, scheduling; the soak
measured ~5 ms of CPU per probe for the whole agent). Meanwhile this thread renders
``/metrics`` as its worker thread does (``render_chunks`` then every piece) every
``--every`` seconds, timed.

Run: ``python -m bench.metrics_load`` (``--offerings``, ``--seconds``); ``bench.metrics_render``
runs it too and reports ``render_p99_ms_under_load`` and ``series_per_offering``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import random
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench._common import machine, render_once, summary_ms, write_result
from bench.soak import CONTROL_S, PROVIDERS, soak_config
from monitor.config import Config
from monitor.interfaces import Kind, Outcome, Phase, ProbeResult
from monitor.metrics import series_per_offering
from monitor.service import Service

NAME = "metrics_load"
TARGET_MS = 50.0
#: mostly ok, every failure path present: enough failures to move states now and then
OUTCOMES = [Outcome.OK] * 60 + list(Outcome)


def burn(seconds: float) -> None:
    """Pure-Python work holding the GIL for ``seconds`` (a probe's own CPU)."""
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        for i in range(200):
            x ^= i
    del x


def result(config: Config, offering: str, rnd: random.Random, generate: bool) -> ProbeResult:
    kind = Kind.GENERATE if generate else Kind.CONTROL
    phases = {Phase.CONNECT: rnd.uniform(0.002, 0.08), Phase.TTFB: rnd.uniform(0.05, 0.6)}
    if generate:
        phases[Phase.QUEUE] = rnd.uniform(0.1, 20)
        phases[Phase.INFERENCE] = rnd.uniform(2, 40)
        phases[Phase.DOWNLOAD] = rnd.uniform(0.001, 0.3)
    phases[Phase.TOTAL] = sum(phases.values())
    return ProbeResult(
        probe_id=f"load-{rnd.random()}",
        offering=offering,
        provider=config.provider_of(offering),
        model=config.model_of(offering),
        vantage=config.vantage,
        kind=kind,
        outcome=rnd.choice(OUTCOMES),
        started_at=dt.datetime.now(dt.UTC),
        phases=phases,
        cost_usd=Decimal("0.04") if generate else Decimal(0),
    )


class Feeder(threading.Thread):
    """Results at ``rate`` a second into the service's pipeline, with their CPU."""

    def __init__(self, service: Service, rate: float, probe_cpu_s: float) -> None:
        super().__init__(daemon=True)
        self.service, self.rate, self.probe_cpu_s = service, rate, probe_cpu_s
        self.stop = threading.Event()
        self.fed = 0
        self.late_s = 0.0

    def run(self) -> None:
        service, config = self.service, self.service.config
        offerings = list(config.enabled_offerings())
        rnd = random.Random(18)
        began = time.perf_counter()
        routes_at = prices_at = began
        while not self.stop.is_set():
            due = began + self.fed / self.rate
            wait = due - time.perf_counter()
            if wait > 0:
                self.stop.wait(wait)
            else:
                self.late_s = max(self.late_s, -wait)
            offering = offerings[self.fed % len(offerings)]
            service.pipeline.accept(result(config, offering, rnd, rnd.random() < 0.1))
            burn(self.probe_cpu_s)
            self.fed += 1
            now = time.perf_counter()
            if now - routes_at >= config.routing.evaluate_seconds:  # the service's timer
                service.evaluate_routes()
                routes_at = now
            if now - prices_at >= 10:  # a listed price changed somewhere
                service.metrics.price_changes.labels(offering, "load").inc()
                prices_at = now


class Pauses:
    """The garbage collector's full collections during the run (every thread waits for
    them: a render that meets one takes at least as long)."""

    def __init__(self) -> None:
        self.took: list[float] = []
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.took.append(time.perf_counter() - self._began)


def measure(offerings: int, seconds: float, every: float, probe_cpu_ms: float) -> dict[str, Any]:
    models = max(1, offerings // len(PROVIDERS))
    config = soak_config("http://127.0.0.1:9", models=models)
    count = len(config.enabled_offerings())
    with tempfile.TemporaryDirectory() as tmp:
        service = Service(config, f"sqlite:///{Path(tmp) / 'load.db'}")
        rate = count / CONTROL_S
        for _ in range(2):  # every offering's series exist first
            for offering in config.enabled_offerings():
                for generate in (False, True):
                    service.pipeline.accept(result(config, offering, random.Random(1), generate))
        service.evaluate_routes()
        render_once(service.metrics)  # the first read is at the scrape
        feeder = Feeder(service, rate, probe_cpu_ms / 1000)
        pauses = Pauses()
        gc.callbacks.append(pauses)
        feeder.start()
        took: list[float] = []
        alone: list[float] = []  # renders that began with no gauge read behind running
        behind = service.metrics._gauges
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            reading = behind._lock.locked()
            took.append(render_once(service.metrics))
            if not reading:
                alone.append(took[-1])
            time.sleep(every)
        feeder.stop.set()
        feeder.join()
        gc.callbacks.remove(pauses)
        text = service.metrics.render()
        return {
            "offerings": count,
            "seconds": seconds,
            "results_fed": feeder.fed,
            "results_per_s": round(feeder.fed / seconds, 1),
            "feeder_max_late_ms": round(feeder.late_s * 1000, 1),
            "probe_cpu_ms": probe_cpu_ms,
            "render_ms_under_load": summary_ms(took),
            "render_p99_ms_under_load": summary_ms(took)["p99"],
            "render_ms_no_read_behind_running": summary_ms(alone),
            "gauges_read_ms_last": round(behind.took * 1000, 1),
            "gc_full_collections_ms": summary_ms(pauses.took),
            "gauges_reads_behind": behind.behind_reads,
            "exposition_bytes": len(text),
            "series_per_offering": series_per_offering(text, count),
            "detail": service.metrics.detail.level,
            "met_render": summary_ms(took)["p99"] <= TARGET_MS,
        }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.metrics_load", description=__doc__)
    parser.add_argument("--offerings", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--every", type=float, default=0.5, help="seconds between renders")
    parser.add_argument("--probe-cpu-ms", type=float, default=5.0)
    args = parser.parse_args(argv)
    found = measure(args.offerings, args.seconds, args.every, args.probe_cpu_ms)
    found["target_ms"] = TARGET_MS
    found["met"] = found["render_p99_ms_under_load"] <= TARGET_MS
    path = write_result(NAME, {"benchmark": NAME, "machine": machine(), **found})
    print(
        f"[{NAME}] wrote {path}: {found['offerings']} offerings, render p99 "
        f"{found['render_p99_ms_under_load']} ms under load, "
        f"{found['series_per_offering']} series per offering, met={found['met']}",
        flush=True,
    )
    return found


if __name__ == "__main__":
    main()
