"""Measurement overhead: what a probe measures minus the latency the simulator injected.

The simulator runs in its own process (``provmon simulate``) with a scenario giving every
OpenAI-compatible target a fixed delay before it answers. This process runs the real
:class:`~monitor.runner.Runner` on ``lumenfall/imagen-4.0-generate-001`` and subtracts the
injected delay from the ``ttfb`` and ``total`` phases it reports.

Two load shapes:

- ``burst``: ``c`` probes started at the same instant (``asyncio.gather``), repeated;
  all ``c`` answers arrive together, so the last waits for the others to be parsed;
- ``steady``: ``c`` probes kept in flight, their starts spread over one injected delay,
  so answers arrive one at a time (what ``c`` scheduled offerings look like).

Variants separate the runner from what lies under it:

- ``runner``: the product as shipped: one httpx client per provider (pool of 100);
- ``runner_client_per_offering``: the same runner, but each concurrent probe gets its own
  small client, as if each of ``c`` offerings had one (the bench cannot have 200 real
  offerings of one endpoint, so a context variable names the slot);
- ``httpx_shared`` / ``httpx_client_per_offering``: bare httpx requests on the same
  clients, timed the same way (send to response headers), without runner or adapter.

Run alone: ``python -m bench.overhead`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bench._common import (
    OFFERING,
    Clients,
    KeyedClientRunner,
    client_key,
    cpu_seconds_of,
    fixed_latency_scenario,
    machine,
    print_table,
    simulated_config,
    simulator,
    summary_ms,
    write_result,
)
from monitor.config import Config
from monitor.interfaces import Kind, Outcome, Phase
from monitor.runner import Runner

NAME = "overhead"
TARGET_MS = 1.0
CONCURRENCY = (1, 50, 200)
#: probes measured per kind in burst mode at each concurrency (after one warm-up round)
BURST_PROBES = {1: 100, 50: 300, 200: 400}
#: injected delay of the steady run: long enough that 200 in flight is a load one
#: process can carry (200 / 1.0 s = 200 probes a second)
STEADY_LATENCY = 1.0
STEADY_SECONDS = 6.0

Sample = tuple[str, float, float]  # outcome, ttfb seconds, total seconds
ProbeFn = Callable[[Kind, int], Awaitable[Sample]]


def runner_probe(runner: Runner) -> ProbeFn:
    async def probe(kind: Kind, slot: int) -> Sample:
        client_key.set(str(slot))  # each gathered coroutine runs in its own task
        result = await runner.run_probe(OFFERING, kind)
        return (result.outcome.value, result.phases.get(Phase.TTFB, float("nan")),
                result.phases[Phase.TOTAL])

    return probe


def httpx_probe(config: Config, clients: Clients) -> ProbeFn:
    """The adapter's first request, bare: timed from send to headers, then the body read."""
    provider = config.providers[config.provider_of(OFFERING)]
    model = config.offerings[OFFERING].provider_model
    headers = {"Authorization": "Bearer sim-lumenfall-key"}
    body = {"n": 1, "size": "1024x1024", "model": model, "prompt": config.defaults.prompt}

    async def probe(kind: Kind, slot: int) -> Sample:
        client = clients.get(str(slot))
        if kind == Kind.GENERATE:
            request = client.build_request("POST", f"{provider.base_url}/images/generations",
                                           json=body, headers=headers)
        else:
            request = client.build_request("GET", f"{provider.base_url}/models/{model}",
                                           headers=headers)
        start = time.perf_counter()
        response = await client.send(request, stream=True)
        ttfb = time.perf_counter() - start
        await response.aread()
        await response.aclose()
        outcome = "ok" if response.status_code == 200 else f"http_{response.status_code}"
        return outcome, ttfb, time.perf_counter() - start

    return probe


@dataclass
class Meter:
    """Wall time and CPU of this process and of the simulator over one measurement."""

    sim_pid: int

    def __enter__(self) -> Meter:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        self.sim = cpu_seconds_of(self.sim_pid)
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu
        self.sim = cpu_seconds_of(self.sim_pid) - self.sim


def row(samples: list[Sample], injected: float, meter: Meter) -> dict[str, Any]:
    ok = [s for s in samples if s[0] == Outcome.OK.value]
    n = max(1, len(samples))
    return {
        "probes": len(samples),
        "outcomes": dict(sorted(Counter(s[0] for s in samples).items())),
        "ttfb_overhead_ms": summary_ms([s[1] - injected for s in ok]),
        "total_overhead_ms": summary_ms([s[2] - injected for s in ok]),
        "wall_seconds": round(meter.wall, 3),
        # a share near 1.0 means that process was CPU-bound and queued callbacks
        "bench_process_cpu_share": round(meter.cpu / meter.wall, 3),
        "simulator_cpu_share": round(meter.sim / meter.wall, 3),
        "bench_cpu_ms_per_probe": round(meter.cpu / n * 1000, 3),
        "simulator_cpu_ms_per_probe": round(meter.sim / n * 1000, 3),
    }


async def burst(probe: ProbeFn, kind: Kind, c: int, count: int, injected: float,
                sim_pid: int) -> dict[str, Any]:
    await asyncio.gather(*(probe(kind, i) for i in range(c)))  # warm-up: opens connections
    samples: list[Sample] = []
    with Meter(sim_pid) as meter:
        while len(samples) < count:
            samples += await asyncio.gather(*(probe(kind, i) for i in range(c)))
    return row(samples, injected, meter)


async def steady(probe: ProbeFn, kind: Kind, c: int, seconds: float, injected: float,
                 sim_pid: int) -> dict[str, Any]:
    samples: list[Sample] = []

    async def worker(slot: int, stop: float) -> None:
        await asyncio.sleep(slot * injected / c)
        await probe(kind, slot)  # warm-up: opens this slot's connection
        while time.perf_counter() < stop:
            samples.append(await probe(kind, slot))

    with Meter(sim_pid) as meter:
        stop = time.perf_counter() + seconds
        await asyncio.gather(*(worker(i, stop) for i in range(c)))
    return row(samples, injected, meter)


Variant = tuple[str, ProbeFn, Callable[[], Awaitable[None]]]


def variants(config: Config, c: int) -> list[Variant]:
    """The product runner and bare httpx on its shared client; above c=1 also both on one
    small client per offering."""
    product = Runner(config)
    shared = Clients(per_key=False)
    out: list[Variant] = [
        ("runner", runner_probe(product), product.aclose),
        ("httpx_shared", httpx_probe(config, shared), shared.aclose),
    ]
    if c > 1:
        own = KeyedClientRunner(config, Clients(per_key=True))
        per_offering = Clients(per_key=True)
        out += [
            ("runner_client_per_offering", runner_probe(own), own.aclose),
            ("httpx_client_per_offering", httpx_probe(config, per_offering),
             per_offering.aclose),
        ]
    return out


async def run_burst(sim_url: str, sim_pid: int, injected: float,
                    probes: dict[int, int]) -> list[dict[str, Any]]:
    config = simulated_config(sim_url)
    rows: list[dict[str, Any]] = []
    for c in CONCURRENCY:
        for variant, probe, close in variants(config, c):
            for kind in (Kind.CONTROL, Kind.GENERATE):
                found = await burst(probe, kind, c, probes[c], injected, sim_pid)
                rows.append({"mode": "burst", "variant": variant, "kind": kind.value,
                             "concurrency": c, **found})
                progress(rows[-1])
            await close()
    return rows


async def run_steady(sim_url: str, sim_pid: int, injected: float,
                     seconds: float) -> list[dict[str, Any]]:
    config = simulated_config(sim_url)
    rows: list[dict[str, Any]] = []
    c = max(CONCURRENCY)
    for variant, probe, close in variants(config, c):
        found = await steady(probe, Kind.CONTROL, c, seconds, injected, sim_pid)
        rows.append({"mode": "steady", "variant": variant, "kind": Kind.CONTROL.value,
                     "concurrency": c, **found})
        progress(rows[-1])
        await close()
    return rows


def progress(r: dict[str, Any]) -> None:
    t = r["ttfb_overhead_ms"]
    print(f"  {r['mode']:6} {r['variant']:28} {r['kind']:8} c={r['concurrency']:<4} "
          f"ttfb overhead p50 {t.get('p50')} p99 {t.get('p99')} ms", flush=True)


def checks(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The target applies to the product as shipped (variant ``runner``): ttfb of both
    kinds and control's total (a generate's total also holds the image download and its
    decoding, which the scenario does not inject)."""
    out = []
    for r in rows:
        if r["variant"] != "runner":
            continue
        for phase in ("ttfb", "total") if r["kind"] == "control" else ("ttfb",):
            p99 = r[f"{phase}_overhead_ms"].get("p99")
            out.append({"mode": r["mode"], "kind": r["kind"], "concurrency": r["concurrency"],
                        "phase": phase, "p99_ms": p99,
                        "met": p99 is not None and p99 <= TARGET_MS})
    return out


def find(rows: list[dict[str, Any]], mode: str, variant: str, kind: str, c: int,
         stat: str = "p99") -> float | None:
    for r in rows:
        if (r["mode"], r["variant"], r["kind"], r["concurrency"]) == (mode, variant, kind, c):
            value = r["ttfb_overhead_ms"].get(stat)
            return float(value) if value is not None else None
    return None


def notes(rows: list[dict[str, Any]]) -> list[str]:
    def f(mode: str, variant: str, c: int, stat: str = "p99", kind: str = "control") -> str:
        return str(find(rows, mode, variant, kind, c, stat))

    def cpu(mode: str, variant: str, c: int) -> str:
        for r in rows:
            if (r["mode"], r["variant"], r["kind"], r["concurrency"]) == (
                    mode, variant, "control", c):
                return (f"{r['bench_cpu_ms_per_probe']} ms CPU per probe here, "
                        f"{r['simulator_cpu_ms_per_probe']} ms in the simulator")
        return "n/a"

    top = max(CONCURRENCY)
    return [
        "Measured minus injected includes the simulator's own time (uvicorn with h11, "
        "Starlette, the scenario lookup: about " + cpu("burst", "httpx_shared", 1).split(
            ", ")[1] + " at c=1) and the client's, so even bare httpx at c=1 shows "
        f"ttfb p50 {f('burst', 'httpx_shared', 1, 'p50')} ms; the runner's own share is "
        "its difference to the matching httpx variant "
        f"(c=1 p50: runner {f('burst', 'runner', 1, 'p50')} ms vs httpx "
        f"{f('burst', 'httpx_shared', 1, 'p50')} ms).",
        "The shared per-provider client is what breaks at 50 and 200 concurrent probes: "
        "httpcore's AsyncConnectionPool._assign_requests_to_connections runs on every "
        "request start and end and walks every pooled connection (O(connections^2 + "
        "queued x connections), with a poll() syscall per idle socket in has_expired); "
        f"burst control c={top}: {cpu('burst', 'runner', top)}, ttfb p99 "
        f"{f('burst', 'runner', top)} ms; the same probes on one small client per "
        f"offering: {cpu('burst', 'runner_client_per_offering', top)}, ttfb p99 "
        f"{f('burst', 'runner_client_per_offering', top)} ms. Known upstream: "
        "encode/httpcore#1035 (open), encode/httpx#3215.",
        f"Steady {top} in flight (starts spread over {STEADY_LATENCY}s): product runner "
        f"ttfb p99 {f('steady', 'runner', top)} ms; client per offering "
        f"{f('steady', 'runner_client_per_offering', top)} ms; bare httpx per offering "
        f"{f('steady', 'httpx_client_per_offering', top)} ms.",
        f"Burst mode at c={top} cannot meet 1 ms on any client: {top} answers released in "
        "the same millisecond are parsed one after another on one event loop (and "
        "serialised by the simulator's), so the last of a burst waits for all the others; "
        "on 2 cores the two processes also compete for CPU.",
    ]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.overhead", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.05,
                        help="injected ttfb of the burst runs, seconds (default 0.05)")
    parser.add_argument("--quick", action="store_true", help="fewer probes, shorter runs")
    args = parser.parse_args(argv)
    probes = {c: max(c, n // 5) for c, n in BURST_PROBES.items()} if args.quick else (
        BURST_PROBES)
    seconds = 2.0 if args.quick else STEADY_SECONDS
    print(f"[{NAME}] burst: simulator subprocess, injected ttfb {args.latency}s", flush=True)
    with simulator(fixed_latency_scenario(args.latency)) as (url, pid):
        rows = asyncio.run(run_burst(url, pid, args.latency, probes))
    print(f"[{NAME}] steady: injected ttfb {STEADY_LATENCY}s", flush=True)
    with simulator(fixed_latency_scenario(STEADY_LATENCY)) as (url, pid):
        rows += asyncio.run(run_steady(url, pid, STEADY_LATENCY, seconds))
    target_checks = checks(rows)
    top = max(CONCURRENCY)
    result = {
        "name": NAME,
        "machine": machine(),
        "parameters": {
            "offering": OFFERING,
            "burst": {"injected_latency_seconds": {"ttfb": args.latency, "inference": 0.0},
                      "concurrency": list(CONCURRENCY),
                      "probes_per_kind": {str(c): probes[c] for c in CONCURRENCY},
                      "warmup_rounds": 1},
            "steady": {"injected_latency_seconds": {"ttfb": STEADY_LATENCY,
                                                    "inference": 0.0},
                       "concurrency": top, "seconds": seconds, "kind": "control"},
            "simulator": "separate process: provmon simulate --scenario (uvicorn, h11)",
        },
        "results": rows,
        "target": {"description": f"probe-measured minus injected latency, p99, at {top} "
                   "concurrent probes, product as shipped (variant runner)",
                   "max_p99_ms": TARGET_MS},
        "target_checks": target_checks,
        "met": all(c["met"] for c in target_checks if c["concurrency"] == top),
        "notes": notes(rows),
    }
    path = write_result(NAME, result)
    report(result)
    print(f"[{NAME}] wrote {path}")
    return result


def report(result: dict[str, Any]) -> None:
    rows = [["mode", "variant", "kind", "c", "ttfb p50", "ttfb p99", "total p50", "total p99",
             "cpu ms/probe"]]
    for r in result["results"]:
        t, tot = r["ttfb_overhead_ms"], r["total_overhead_ms"]
        rows.append([r["mode"], r["variant"], r["kind"], str(r["concurrency"]),
                     str(t.get("p50")), str(t.get("p99")), str(tot.get("p50")),
                     str(tot.get("p99")), str(r["bench_cpu_ms_per_probe"])])
    print_table(rows)
    print(f"target: p99 <= {TARGET_MS} ms at {max(CONCURRENCY)}: met={result['met']}")


if __name__ == "__main__":
    main()
