"""Measurement overhead: what a probe measures minus the latency the simulator injected.

The simulator runs in its own process (``provmon simulate``) with a scenario giving every
OpenAI-compatible target a fixed delay before its response headers. This process runs the
product's :class:`~monitor.runner.Runner` over 200 distinct offerings (``lumenfall/soak-000``
... ``soak-199``, each a real Imagen 4 id on the wire), so that, as in production, each
offering has its own HTTP client and 200 probes are in flight at once.

Each probe's ``ttfb`` is compared with two references:

- ``injected``: the scenario's delay (what the issue names);
- ``stamped``: the time the simulator really held that request, which it stamps on every
  answer (``x-sim-server-seconds``): the injected delay plus the simulator's own timer
  slack and event-loop lag. ``ttfb - stamped`` is what the network and the prober add.

Load shapes, both with 200 offerings:

- ``steady``: every offering keeps one probe in flight, starts spread evenly over one
  injected delay, so answers arrive one at a time, as 200 scheduled offerings' do;
- ``burst``: all 200 start in the same instant, repeatedly, so 200 answers arrive in the
  same millisecond and the last is parsed after the other 199 (the worst case, reported,
  not the target's shape).

The peer, side by side in the same run: bare httpx, one client per offering built by the
same ``monitor.http.build_client``, the same request, timed from send to response headers,
without runner, adapter or probe context. The difference of the two is the runner's own
share.

Run alone: ``python -m bench.overhead`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench._common import (
    cpu_seconds_of,
    fixed_latency_scenario,
    machine,
    print_table,
    simulator,
    summary_ms,
    write_result,
)
from bench.soak import soak_config
from monitor.config import Config
from monitor.http import build_client
from monitor.interfaces import Kind, Outcome, Phase
from monitor.runner import Runner

NAME = "overhead"
TARGET_MS = 1.0
OFFERINGS = 200
#: injected ttfb of the steady run: 200 offerings with one probe each in flight make
#: 200 / 2 s = 100 probes a second, a load one process carries next to its simulator
STEADY_LATENCY = 2.0
STEADY_SECONDS = 20.0
BURST_LATENCY = 0.05
BURST_ROUNDS = 5

#: (outcome, ttfb seconds, simulator's stamped seconds)
Sample = tuple[str, float, float]
ProbeFn = Callable[[str, Kind], Awaitable[Sample]]


def overhead_config(sim_url: str) -> Config:
    """``OFFERINGS`` Lumenfall offerings aimed at ``sim_url``: the soak's config, one
    provider (the bench calls the runner itself; no schedule runs)."""
    return soak_config(sim_url, models=OFFERINGS, providers=("lumenfall",))


def stamp_of(response: httpx.Response) -> float:
    return float(response.headers.get("x-sim-server-seconds", "nan"))


def runner_probe(runner: Runner) -> ProbeFn:
    """The product: ``Runner.run_probe``; the stamp read by a response hook on the
    offering's own client (one probe in flight per offering; the first response is the one
    ``ttfb`` times, a later one is the image download)."""
    stamps: dict[str, float] = {}

    async def probe(offering: str, kind: Kind) -> Sample:
        client = runner.client_for(offering)
        if not client.event_hooks["response"]:

            async def hook(response: httpx.Response, offering: str = offering) -> None:
                stamps.setdefault(offering, stamp_of(response))

            client.event_hooks["response"].append(hook)
        result = await runner.run_probe(offering, kind)
        ttfb = result.phases.get(Phase.TTFB, float("nan"))
        return result.outcome.value, ttfb, stamps.pop(offering, float("nan"))

    return probe


@dataclass
class BareHttpx:
    """The peer: the same request on one client per offering, without the runner."""

    config: Config
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    async def probe(self, offering: str, kind: Kind) -> Sample:
        provider = self.config.providers["lumenfall"]
        model = self.config.offerings[offering].provider_model
        client = self.clients.get(offering)
        if client is None:
            client = self.clients[offering] = build_client(timeout=600, max_connections=4)
        headers = {"Authorization": "Bearer sim-lumenfall-key"}
        if kind == Kind.GENERATE:
            body = {"n": 1, "size": "1024x1024", "model": model, "prompt": "a red apple"}
            request = client.build_request(
                "POST", f"{provider.base_url}/images/generations", json=body, headers=headers
            )
        else:
            request = client.build_request(
                "GET", f"{provider.base_url}/models/{model}", headers=headers
            )
        start = time.perf_counter()
        response = await client.send(request, stream=True)
        ttfb = time.perf_counter() - start
        await response.aread()
        await response.aclose()
        outcome = "ok" if response.status_code == 200 else f"http_{response.status_code}"
        return outcome, ttfb, stamp_of(response)

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()


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
        "ttfb_minus_injected_ms": summary_ms([s[1] - injected for s in ok]),
        "ttfb_minus_stamped_ms": summary_ms([s[1] - s[2] for s in ok]),
        "simulator_lag_ms": summary_ms([s[2] - injected for s in ok]),
        "wall_seconds": round(meter.wall, 3),
        # a share near 1.0 means that process was CPU-bound and queued callbacks
        "bench_process_cpu_share": round(meter.cpu / meter.wall, 3),
        "simulator_cpu_share": round(meter.sim / meter.wall, 3),
        "bench_cpu_ms_per_probe": round(meter.cpu / n * 1000, 3),
        "simulator_cpu_ms_per_probe": round(meter.sim / n * 1000, 3),
    }


async def steady(
    probe: ProbeFn, offerings: list[str], kind: Kind, seconds: float, injected: float, pid: int
) -> dict[str, Any]:
    samples: list[Sample] = []
    c = len(offerings)

    async def worker(slot: int, offering: str, stop: float) -> None:
        await asyncio.sleep(slot * injected / c)
        while time.perf_counter() < stop:
            samples.append(await probe(offering, kind))

    # warm-up: every offering's connection is open
    await asyncio.gather(*(probe(o, kind) for o in offerings))
    with Meter(pid) as meter:
        stop = time.perf_counter() + seconds
        await asyncio.gather(*(worker(i, o, stop) for i, o in enumerate(offerings)))
    return row(samples, injected, meter)


async def burst(
    probe: ProbeFn, offerings: list[str], kind: Kind, rounds: int, injected: float, pid: int
) -> dict[str, Any]:
    await asyncio.gather(*(probe(o, kind) for o in offerings))  # warm-up
    samples: list[Sample] = []
    with Meter(pid) as meter:
        for _ in range(rounds):
            samples += await asyncio.gather(*(probe(o, kind) for o in offerings))
    return row(samples, injected, meter)


async def measure(
    sim_url: str, pid: int, mode: str, injected: float, amount: float
) -> list[dict[str, Any]]:
    config = overhead_config(sim_url)
    offerings = config.enabled_offerings()
    rows: list[dict[str, Any]] = []
    for kind in (Kind.CONTROL, Kind.GENERATE):
        for variant in ("runner", "httpx"):
            if variant == "runner":
                runner = Runner(config)
                probe, close = runner_probe(runner), runner.aclose
            else:
                bare = BareHttpx(config)
                probe, close = bare.probe, bare.aclose
            gc.collect()
            gc.freeze()  # as Service.start does with its start-up heap
            try:
                if mode == "steady":
                    found = await steady(probe, offerings, kind, amount, injected, pid)
                else:
                    found = await burst(probe, offerings, kind, int(amount), injected, pid)
            finally:
                await close()
                gc.unfreeze()
            rows.append(
                {
                    "mode": mode,
                    "variant": variant,
                    "kind": kind.value,
                    "offerings": len(offerings),
                    "injected_ms": injected * 1000,
                    **found,
                }
            )
            progress(rows[-1])
    return rows


def progress(r: dict[str, Any]) -> None:
    a, b = r["ttfb_minus_injected_ms"], r["ttfb_minus_stamped_ms"]
    print(
        f"  {r['mode']:6} {r['variant']:6} {r['kind']:8} n={r['probes']:<5} ttfb-injected "
        f"p50 {a.get('p50')} p99 {a.get('p99')} ms; ttfb-stamped p50 {b.get('p50')} "
        f"p99 {b.get('p99')} ms",
        flush=True,
    )


def checks(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The target: the product (variant ``runner``), 200 offerings in flight (steady),
    ttfb minus the injected delay, p99, both kinds."""
    out = []
    for r in rows:
        if r["variant"] != "runner" or r["mode"] != "steady":
            continue
        p99 = r["ttfb_minus_injected_ms"].get("p99")
        out.append(
            {
                "kind": r["kind"],
                "p99_ms": p99,
                "runner_minus_httpx_p50_ms": runner_share(rows, r, "p50"),
                "runner_minus_httpx_p99_ms": runner_share(rows, r, "p99"),
                "met": p99 is not None and p99 <= TARGET_MS,
            }
        )
    return out


def runner_share(rows: list[dict[str, Any]], r: dict[str, Any], stat: str) -> float | None:
    for peer in rows:
        if peer["variant"] == "httpx" and (peer["mode"], peer["kind"]) == (r["mode"], r["kind"]):
            a = r["ttfb_minus_injected_ms"].get(stat)
            b = peer["ttfb_minus_injected_ms"].get(stat)
            return None if a is None or b is None else round(a - b, 3)
    return None


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.overhead",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    args = parser.parse_args(argv)
    seconds = 6.0 if args.quick else STEADY_SECONDS
    rounds = 2 if args.quick else BURST_ROUNDS
    print(f"[{NAME}] steady: {OFFERINGS} offerings in flight, injected {STEADY_LATENCY}s")
    with simulator(fixed_latency_scenario(STEADY_LATENCY)) as (url, pid):
        rows = asyncio.run(measure(url, pid, "steady", STEADY_LATENCY, seconds))
    print(f"[{NAME}] burst: {OFFERINGS} offerings at once, injected {BURST_LATENCY}s")
    with simulator(fixed_latency_scenario(BURST_LATENCY)) as (url, pid):
        rows += asyncio.run(measure(url, pid, "burst", BURST_LATENCY, rounds))
    target_checks = checks(rows)
    result = {
        "name": NAME,
        "machine": machine(),
        "parameters": {
            "offerings": OFFERINGS,
            "steady": {"injected_ttfb_seconds": STEADY_LATENCY, "seconds": seconds},
            "burst": {"injected_ttfb_seconds": BURST_LATENCY, "rounds": rounds},
            "simulator": "separate process: provmon simulate --scenario (uvicorn, h11)",
        },
        "results": rows,
        "target": {
            "description": f"ttfb minus injected latency, p99, {OFFERINGS} offerings with a "
            "probe each in flight (steady), the product runner",
            "max_p99_ms": TARGET_MS,
        },
        "target_checks": target_checks,
        "met": all(c["met"] for c in target_checks),
    }
    path = write_result(NAME, result)
    report(result)
    print(f"[{NAME}] wrote {path}")
    return result


def report(result: dict[str, Any]) -> None:
    rows = [
        [
            "mode",
            "variant",
            "kind",
            "probes",
            "-injected p50",
            "-injected p99",
            "-stamped p50",
            "-stamped p99",
            "sim lag p99",
            "cpu ms/probe",
        ]
    ]
    for r in result["results"]:
        a, b, lag = r["ttfb_minus_injected_ms"], r["ttfb_minus_stamped_ms"], r["simulator_lag_ms"]
        rows.append(
            [
                r["mode"],
                r["variant"],
                r["kind"],
                str(r["probes"]),
                str(a.get("p50")),
                str(a.get("p99")),
                str(b.get("p50")),
                str(b.get("p99")),
                str(lag.get("p99")),
                str(r["bench_cpu_ms_per_probe"]),
            ]
        )
    print_table(rows)
    print(f"target: p99 <= {TARGET_MS} ms, steady, runner: met={result['met']}")


if __name__ == "__main__":
    main()
