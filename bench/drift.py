"""Scheduler start-time drift at 1,000 offerings.

A config of 1,000 offerings (one provider, ``lumenfall``; every offering asks the same
simulated model) runs under the real :class:`~monitor.scheduler.ProbeScheduler`
(APScheduler 3.x on asyncio) with a control interval of 10 s and no jitter. Drift is the
time from a run's scheduled fire time (``scheduled_run_times`` of APScheduler's
``EVENT_JOB_SUBMITTED``) to the moment the job function starts.

Two variants:

- ``stub``: the job is a coroutine that only records the time: drift of the scheduler
  and an idle event loop;
- ``real_probes``: the job is the real ``Runner.run_probe`` (control probes) against the
  simulator in a separate process, so the loop is loaded with real HTTP;
- ``real_probes_client_per_offering``: the same, but each offering's probes use a small
  client of their own instead of the provider's shared pool (see ``bench/overhead.py``).

Run alone: ``python -m bench.drift`` (``--seconds`` to change the run length).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import time
from collections import Counter
from typing import Any

from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
    JobSubmissionEvent,
)

from bench._common import (
    HOST,
    OFFERING,
    Clients,
    KeyedClientRunner,
    client_key,
    cpu_seconds_of,
    machine,
    print_table,
    quiet_logs,
    simulator,
    summary_ms,
    write_result,
)
from monitor.catalogs import load_catalog
from monitor.config import (
    Config,
    parse_config,
    point_at_simulator,
    simulator_credentials,
)
from monitor.interfaces import Kind, ProbeResult
from monitor.runner import Runner
from monitor.scheduler import JobFunc, ProbeScheduler, job_id
from monitor.servers import free_port

NAME = "drift"
TARGET_MS = 250.0
OFFERINGS = 1000
INTERVAL = 10.0
SECONDS = 45.0


def thousand_offerings(sim_url: str, count: int = OFFERINGS) -> Config:
    """``count`` control-only offerings of one provider, aimed at ``sim_url``."""
    base = load_catalog("imagen4")
    os.environ.update(simulator_credentials(base))
    template = base.offerings[OFFERING].model_dump(mode="json")
    template["pricing_sources"] = []  # the bench config has no pricing sources
    data: dict[str, Any] = {
        "vantage": "bench",
        "defaults": {
            "timeout_seconds": 30,
            "control": {"interval_seconds": INTERVAL, "jitter_seconds": 0},
            "generate": {"enabled": False, "interval_seconds": 3600},
        },
        "models": {f"bench-{i:04d}": {} for i in range(count)},
        "providers": {"lumenfall": base.providers["lumenfall"].model_dump(mode="json")},
        # every offering asks the simulator for the same real model id
        "offerings": {f"lumenfall/bench-{i:04d}": template for i in range(count)},
    }
    return point_at_simulator(parse_config(data, origin="bench drift"), sim_url)


class DriftRecorder:
    """Wraps the job function; pairs each start with the fire time APScheduler submitted."""

    def __init__(self, inner: JobFunc | None = None) -> None:
        self.inner = inner
        self.pending: dict[str, dt.datetime] = {}
        self.samples: list[tuple[float, float]] = []  # (scheduled epoch, drift seconds)
        self.skipped: Counter[str] = Counter()

    def attach(self, scheduler: ProbeScheduler) -> None:
        scheduler.scheduler.add_listener(
            self._event, EVENT_JOB_SUBMITTED | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES
        )

    def _event(self, event: JobEvent) -> None:
        if event.code == EVENT_JOB_SUBMITTED:
            assert isinstance(event, JobSubmissionEvent)
            self.pending[event.job_id] = event.scheduled_run_times[-1]
        else:
            self.skipped["missed" if event.code == EVENT_JOB_MISSED else "overlap"] += 1

    async def job(self, offering: str, kind: Kind) -> None:
        started = time.time()
        scheduled = self.pending.pop(job_id(offering, kind), None)
        if scheduled is not None:
            at = scheduled.timestamp()
            self.samples.append((at, started - at))
        if self.inner is not None:
            client_key.set(offering)  # this run's own task: only KeyedClientRunner reads it
            await self.inner(offering, kind)


class Outcomes:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def accept(self, result: ProbeResult) -> None:
        self.counts[result.outcome.value] += 1


async def run_variant(config: Config, seconds: float, runner: Runner | None) -> dict[str, Any]:
    recorder = DriftRecorder(runner.run_probe if runner is not None else None)
    scheduler = ProbeScheduler(config, recorder.job)
    recorder.attach(scheduler)
    began = time.time()
    cpu = time.process_time()
    scheduler.start()
    await asyncio.sleep(seconds)
    scheduler.shutdown()
    if runner is not None:
        if runner.in_flight:  # bounded: a stuck probe is cancelled after 10 s
            _, stuck = await asyncio.wait(set(runner.in_flight), timeout=10)
            for task in stuck:
                task.cancel()
            if stuck:
                await asyncio.wait(stuck, timeout=5)
        await runner.aclose()
    wall = time.time() - began
    cpu = time.process_time() - cpu
    drifts = [d for _, d in recorder.samples]
    steady = [d for at, d in recorder.samples if at >= began + INTERVAL]
    return {
        "jobs": len(scheduler.scheduler.get_jobs()) or len(config.enabled_offerings()),
        "runs": len(drifts),
        "drift_ms": summary_ms(drifts),
        # runs scheduled after the first interval: the first ones share start-up with
        # adding 1,000 jobs
        "drift_after_first_interval_ms": summary_ms(steady),
        "skipped": dict(sorted(recorder.skipped.items())),
        "bench_process_cpu_share": round(cpu / wall, 3),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.drift",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=SECONDS,
        help=f"length of each variant's run (default {SECONDS:.0f})",
    )
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    quiet_logs()

    print(f"[{NAME}] stub jobs, {OFFERINGS} offerings, {args.seconds:.0f}s", flush=True)
    # the stub never sends a request: aim the provider at a port where nothing listens
    config = thousand_offerings(f"http://{HOST}:{free_port(HOST)}")
    rows.append({"variant": "stub", **asyncio.run(run_variant(config, args.seconds, None))})

    for variant, per_offering in (
        ("real_probes", False),
        ("real_probes_client_per_offering", True),
    ):
        print(
            f"[{NAME}] {variant}: control probes against the simulator, {args.seconds:.0f}s",
            flush=True,
        )
        with simulator() as (url, pid):
            config = thousand_offerings(url)
            outcomes = Outcomes()

            async def real(
                config: Config = config,
                outcomes: Outcomes = outcomes,
                per_offering: bool = per_offering,
            ) -> dict[str, Any]:
                runner = (
                    KeyedClientRunner(config, Clients(per_key=True), [outcomes])
                    if per_offering
                    else Runner(config, [outcomes])
                )
                return await run_variant(config, args.seconds, runner)

            sim_cpu = cpu_seconds_of(pid)
            found = asyncio.run(real())
            sim_cpu = cpu_seconds_of(pid) - sim_cpu
        rows.append(
            {
                "variant": variant,
                **found,
                "probe_outcomes": dict(sorted(outcomes.counts.items())),
                "simulator_cpu_seconds": round(sim_cpu, 2),
            }
        )

    checks = [
        {
            "variant": r["variant"],
            "p99_ms": r["drift_ms"].get("p99"),
            "product_as_shipped": r["variant"] != "real_probes_client_per_offering",
            "met": r["drift_ms"].get("p99", 1e9) <= TARGET_MS,
        }
        for r in rows
    ]
    result = {
        "name": NAME,
        "machine": machine(),
        "parameters": {
            "offerings": OFFERINGS,
            "control_interval_seconds": INTERVAL,
            "jitter_seconds": 0,
            "generate": "disabled",
            "seconds_per_variant": args.seconds,
            "first_run_within_seconds": 5.0,
            "scheduler": "monitor.scheduler.ProbeScheduler (APScheduler 3.x AsyncIOScheduler)",
            "simulator_latency": "default scenario: control ttfb uniform 20-60 ms",
        },
        "results": rows,
        "target": {
            "description": "job start minus scheduled fire time, p99, 1,000 offerings",
            "max_p99_ms": TARGET_MS,
        },
        "target_checks": checks,
        "met": all(c["met"] for c in checks if c["product_as_shipped"]),
        "notes": notes(rows),
    }
    path = write_result(NAME, result)
    table = [["variant", "runs", "p50 ms", "p99 ms", "max ms", "steady p99 ms", "skipped"]]
    for r in rows:
        d, s = r["drift_ms"], r["drift_after_first_interval_ms"]
        table.append(
            [
                r["variant"],
                str(r["runs"]),
                str(d.get("p50")),
                str(d.get("p99")),
                str(d.get("max")),
                str(s.get("p99")),
                str(sum(r["skipped"].values())),
            ]
        )
    print_table(table)
    print(f"target: p99 <= {TARGET_MS:.0f} ms: met={result['met']}")
    print(f"[{NAME}] wrote {path}")
    return result


def notes(rows: list[dict[str, Any]]) -> list[str]:
    out = [
        "Drift is measured at the start of the job coroutine, after APScheduler's "
        "misfire check, so it includes the scheduler's wake-up, its bookkeeping for every "
        "due job and the wait for the event loop to start the job's task.",
    ]
    for r in rows:
        out.append(
            f"{r['variant']}: {r['runs']} runs, drift p50 {r['drift_ms'].get('p50')}"
            f" ms, p99 {r['drift_ms'].get('p99')} ms, max {r['drift_ms'].get('max')}"
            f" ms; bench process used {r['bench_process_cpu_share']} of a core; "
            f"skipped {r['skipped'] or 'none'}."
        )
    out += [
        "Runs later than the misfire grace (half the interval, 5 s) are skipped by "
        "APScheduler as missed and never start, so they are not in the drift samples: read "
        "`skipped` beside the percentiles. A run still in flight at its next fire time is "
        "skipped as overlap (max_instances=1).",
        "With real probes on the product's one client per provider, the first wave (1,000 "
        "jobs spread over first_run_within=5 s, 200 probes/s) grows the httpx pool towards "
        "its 100 connections; httpcore then walks every connection on every request start "
        "and end (encode/httpcore#1035), the loop saturates and probes overrun their "
        "interval (overlap skips, timeouts). One small client per offering removed the "
        "skips and timeouts but not the drift (real_probes_client_per_offering; a 20 s "
        "trial run of it stayed at p99 58 ms, this 45 s run did not).",
        "Open question for the real-probe variants: where the bench process stays well "
        "under one core (bench_process_cpu_share) and drift is still hundreds of ms, the "
        "loop is waiting rather than computing. Leads: the simulator's uvicorn closes idle "
        "keep-alive connections after 5 s (its default) while each offering probes every "
        "10 s, so most probes reconnect, and a reuse racing the close shows up as "
        "protocol_error in probe_outcomes; timeouts in probe_outcomes are probes that hit "
        "their 9 s deadline. Profile the loop (asyncio debug slow_callback_duration, or "
        "py-spy) before optimising.",
        "With jitter 0 and first runs spread over 5 s of a 10 s interval, every interval "
        "has a 5 s burst and a 5 s lull; spreading first runs over the whole interval "
        "would halve the peak rate.",
    ]
    return out


if __name__ == "__main__":
    main()
