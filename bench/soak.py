"""Soak: 1,000 simulated offerings for 10 minutes, the whole service as shipped.

The simulator runs in a separate process (``provmon simulate``). The monitor is the real
:class:`~monitor.service.Service` (scheduler, runner, budget, health, routing, result
writer on a file SQLite) plus its HTTP server (``/metrics`` and the API), in this process.

The 1,000 offerings are 200 catalog models x 5 providers (``lumenfall``, ``vertex``,
``gemini``, ``fal``, ``replicate``). The fakes only serve the model ids the real providers
serve (an unknown id is a 404, as it would be), so each model ``soak-NNN`` is a distinct
offering key (``fal/soak-017``) whose ``provider_model`` is one of that provider's three
real Imagen 4 ids (Fast, Standard, Ultra in turn). Every request therefore walks the real
path, auth and async flow of its fake; only the offering keys are synthetic, which is
exactly what an operator adding 200 models would have.

Cadence: control probes every 30 s (3 s jitter); generate probes at the budget-driven
cadence with its bounds pinned to 5 minutes (``generate_min/max_interval_seconds: 300``),
each paid probe reserving and settling money in the budget ledger as in production.

Measured:

- ``rss_mib``: resident memory of this (the monitor's) process every 5 s; ``flat`` is
  judged on the medians of the first and last 10 % of the samples taken after a warm-up
  (the first generate round and the first scrape allocate what later rounds reuse),
  plus a least-squares slope;
- ``drift_ms``: probe start drift, the time from APScheduler's scheduled fire time to the
  start of the job, per kind;
- ``results``: probes produced by the runner vs rows a fresh store counts in the SQLite
  file after the service's own shutdown (what SIGTERM runs), and results the writer
  dropped (target: zero lost);
- ``metrics``: every 30 s, as Prometheus would, the render ``/metrics`` does
  (``Metrics.render_chunks`` in a worker thread and every joined piece, target p99
  <= 50 ms) and a whole scrape over HTTP from another process (render plus 24 MB
  through the socket and the client); at the end, at full size, five of each, with the
  exposition's size.

Run alone: ``python -m bench.soak`` (``--minutes`` to change the length, default 10).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_SUBMITTED, JobEvent, JobSubmissionEvent

from bench._common import (
    HOST,
    cpu_seconds_of,
    machine,
    quiet_logs,
    render_once,
    simulator,
    summary_ms,
    write_result,
)
from monitor.catalogs import load_catalog
from monitor.config import Config, parse_config, point_at_simulator
from monitor.config import simulator_credentials as sim_credentials
from monitor.interfaces import Kind, ProbeResult
from monitor.scheduler import job_id
from monitor.servers import Server
from monitor.service import Service
from monitor.store import Store
from monitor.web import build_api

NAME = "soak"
PROVIDERS = ("lumenfall", "vertex", "gemini", "fal", "replicate")
TIERS = ("imagen-4.0-fast-generate-001", "imagen-4.0-generate-001", "imagen-4.0-ultra-generate-001")
MODELS = 200
MINUTES = 10.0
CONTROL_S = 30.0
GENERATE_S = 300.0
RSS_EVERY_S = 5.0
SCRAPE_EVERY_S = 30.0
METRICS_TARGET_MS = 50.0
#: RSS may grow this much (share of the warm median) between the first and last 10 %
RSS_GROWTH_LIMIT = 0.10
#: a 1 % background of provider errors, so failure paths run too
SCENARIO: dict[str, Any] = {
    "seed": 11,
    "targets": {"*": {"error_ratio": 0.01}},
}


def soak_config(
    sim_url: str, models: int = MODELS, providers: tuple[str, ...] = PROVIDERS
) -> Config:
    """``models`` x ``providers`` offerings aimed at ``sim_url`` (see the module docstring)."""
    base = load_catalog("imagen4")
    os.environ.update(sim_credentials(base))
    simulated = point_at_simulator(base, sim_url)
    offerings: dict[str, Any] = {}
    for i in range(models):
        for provider in providers:
            template = simulated.offerings[f"{provider}/{TIERS[i % 3]}"].model_dump(mode="json")
            template["pricing_sources"] = []  # the pages price the three real ids only
            offerings[f"{provider}/soak-{i:03d}"] = template
    data: dict[str, Any] = {
        "vantage": "soak",
        "defaults": {
            **simulated.defaults.model_dump(mode="json"),
            "timeout_seconds": 60,
            "control": {"interval_seconds": CONTROL_S, "jitter_seconds": 3},
            "generate": {"interval_seconds": GENERATE_S, "jitter_seconds": 30},
        },
        "budget": {"daily_usd": "100000", "offering_daily_usd": "100"},
        "cadence": {
            "generate_min_interval_seconds": GENERATE_S,
            "generate_max_interval_seconds": GENERATE_S,
        },
        "models": {f"soak-{i:03d}": {"family": "soak"} for i in range(models)},
        "providers": {p: simulated.providers[p].model_dump(mode="json") for p in providers},
        "offerings": offerings,
    }
    return parse_config(data, origin="bench soak")


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Produced:
    """A result sink counting what the runner produced."""

    def __init__(self) -> None:
        self.count = 0
        self.outcomes: Counter[str] = Counter()

    def accept(self, result: ProbeResult) -> None:
        self.count += 1
        self.outcomes[f"{result.kind.value}:{result.outcome.value}"] += 1


class DriftRecorder:
    """Pairs each job start with the fire time APScheduler submitted it for."""

    def __init__(self, service: Service) -> None:
        self.inner = service.run_job
        self.pending: dict[str, dt.datetime] = {}
        self.samples: dict[str, list[tuple[float, float]]] = {k.value: [] for k in Kind}
        service.scheduler.scheduler.add_listener(self._event, EVENT_JOB_SUBMITTED)
        service.scheduler.run = self.job

    def _event(self, event: JobEvent) -> None:
        assert isinstance(event, JobSubmissionEvent)
        self.pending[event.job_id] = event.scheduled_run_times[-1]

    async def job(self, offering: str, kind: Kind) -> Any:
        started = time.time()
        scheduled = self.pending.pop(job_id(offering, kind), None)
        if scheduled is not None:
            at = scheduled.timestamp()
            self.samples[kind.value].append((at, started - at))
        return await self.inner(offering, kind)


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per minute."""
    if len(points) < 2:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


#: one ``/metrics`` scrape, timed inside a process of its own (as Prometheus is one): a
#: 24 MB body read in this process would count in the RSS the soak watches
SCRAPER = """
import sys, time, httpx
began = time.perf_counter()
response = httpx.get(sys.argv[1], timeout=120)
response.raise_for_status()
print(time.perf_counter() - began, len(response.content))
"""


def scrape(url: str) -> tuple[float, int]:
    """One ``/metrics`` scrape over HTTP from another process: (seconds, bytes)."""
    done = subprocess.run(
        [sys.executable, "-c", SCRAPER, url],
        capture_output=True,
        text=True,
        check=True,
        timeout=180,
    )
    took, size = done.stdout.split()
    return float(took), int(size)


async def soak(sim_url: str, sim_pid: int, seconds: float, folder: str) -> dict[str, Any]:
    config = soak_config(sim_url)
    db_url = f"sqlite:///{folder}/soak.db"
    service = Service(config, db_url)
    produced = Produced()
    service.runner.sinks.append(produced)
    recorder = DriftRecorder(service)
    server = Server(build_api(service), HOST, 0)
    await server.start()
    await service.start()
    metrics_url = f"{server.url}/metrics"
    began = time.monotonic()
    sim_cpu = cpu_seconds_of(sim_pid)
    cpu = time.process_time()
    rss: list[tuple[float, float]] = []
    scrapes: list[float] = []
    renders: list[float] = []
    sizes: list[int] = []
    next_scrape = 10.0
    pending: asyncio.Task[tuple[float, int]] | None = None
    while (elapsed := time.monotonic() - began) < seconds:
        rss.append((elapsed, rss_mib()))
        if elapsed >= next_scrape and (pending is None or pending.done()):
            if pending is not None:
                took, size = pending.result()
                scrapes.append(took)
                sizes.append(size)
            # the render /metrics does, in a worker thread as the handler runs it, while
            # the probes keep the event loop busy
            renders.append(await asyncio.to_thread(render_once, service.metrics))
            # from another process, as Prometheus is: the handler runs in a worker thread
            # of the server (its GIL time is what the probes pay for a scrape)
            pending = asyncio.create_task(asyncio.to_thread(scrape, metrics_url))
            next_scrape = elapsed + SCRAPE_EVERY_S
        print(
            f"[{NAME}] {elapsed:5.0f}s rss {rss[-1][1]:.0f} MiB, produced {produced.count}, "
            f"written {service.writer.written}, buffered {len(service.writer.buffer)}",
            flush=True,
        )
        await asyncio.sleep(RSS_EVERY_S)
    if pending is not None:
        took, size = await pending
        scrapes.append(took)
        sizes.append(size)
    wall = time.monotonic() - began
    cpu = time.process_time() - cpu
    sim_cpu = cpu_seconds_of(sim_pid) - sim_cpu

    # /metrics at full size, probes still running: repeated scrapes and renders
    final_http: list[float] = []
    for _ in range(5):
        took, size = await asyncio.to_thread(scrape, metrics_url)
        final_http.append(took)
        sizes.append(size)
    render: list[float] = []
    for _ in range(5):
        render.append(await asyncio.to_thread(render_once, service.metrics))
    text = service.metrics.render()
    series = text.count(b"\n") - text.count(b"\n#")

    # the shutdown SIGTERM runs: no new probe, those in flight end (or are stored as
    # cancelled), the writer flushes; then a fresh store counts what reached the file
    await service.stop(grace=90)
    await server.stop()
    flushed = not service.writer.buffer
    store = Store(db_url)
    stored = await asyncio.to_thread(store.count_results)
    store.dispose()

    warm = [(t, v) for t, v in rss if t >= min(120.0, seconds / 5)]
    tenth = max(1, len(warm) // 10)
    first = statistics.median(v for _, v in warm[:tenth]) if warm else float("nan")
    last = statistics.median(v for _, v in warm[-tenth:]) if warm else float("nan")
    growth = (last - first) / first if warm else float("nan")
    drift_all = [d for samples in recorder.samples.values() for _, d in samples]
    lost = produced.count - stored
    render_p99 = summary_ms(renders).get("p99", float("nan"))
    checks = {
        "rss_flat": growth <= RSS_GROWTH_LIMIT,
        "zero_lost": lost == 0 and service.writer.dropped == 0 and flushed,
        "metrics_render_p99_within_target": render_p99 <= METRICS_TARGET_MS,
    }
    return {
        "offerings": len(config.enabled_offerings()),
        "seconds": round(wall, 1),
        "rss_mib": {
            "samples": [[round(t, 1), round(v, 1)] for t, v in rss],
            "warm_up_seconds": min(120.0, seconds / 5),
            "first_10pct_median": round(first, 1),
            "last_10pct_median": round(last, 1),
            "growth_share": round(growth, 4),
            "slope_mib_per_minute_warm": round(slope_per_minute(warm), 3),
            "slope_mib_per_minute_all": round(slope_per_minute(rss), 3),
            "max": round(max(v for _, v in rss), 1),
        },
        "drift_ms": {
            "all": summary_ms(drift_all),
            **{kind: summary_ms([d for _, d in s]) for kind, s in recorder.samples.items()},
        },
        "results": {
            "produced": produced.count,
            "stored": stored,
            "lost": lost,
            "writer_dropped": service.writer.dropped,
            "flushed": flushed,
            "outcomes": dict(sorted(produced.outcomes.items())),
        },
        "metrics": {
            "render_during_run_ms": summary_ms(renders),
            "render_at_end_ms": summary_ms(render),
            "http_scrape_during_run_ms": summary_ms(scrapes),
            "http_scrape_at_end_ms": summary_ms(final_http),
            "exposition_bytes": max(sizes) if sizes else 0,
            "samples": series,
        },
        "cpu": {
            "monitor_process_cpu_share": round(cpu / wall, 3),
            "simulator_cpu_seconds": round(sim_cpu, 1),
        },
        "checks": checks,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--minutes", type=float, default=MINUTES, help=f"length of the run (default {MINUTES:g})"
    )
    args = parser.parse_args(argv)
    quiet_logs()
    print(f"[{NAME}] {MODELS * len(PROVIDERS)} offerings for {args.minutes:g} min", flush=True)
    with simulator(SCENARIO) as (url, pid), tempfile.TemporaryDirectory() as folder:
        found = asyncio.run(soak(url, pid, args.minutes * 60, folder))
    result = {
        "benchmark": NAME,
        "machine": machine(),
        "threads_at_end": threading.active_count(),
        "target": (
            "1,000 offerings for 10 min: RSS flat (last 10 % median within "
            f"{RSS_GROWTH_LIMIT:.0%} of the first, after warm-up), zero results lost, "
            f"/metrics render p99 <= {METRICS_TARGET_MS:g} ms during the run; HTTP scrape "
            "time and start drift reported"
        ),
        "minutes": args.minutes,
        **found,
        "met": all(found["checks"].values()),
    }
    path = write_result(NAME, result)
    print(f"[{NAME}] wrote {path}: met={result['met']} {found['checks']}", flush=True)
    return result


if __name__ == "__main__":
    main()
