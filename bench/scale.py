"""Scale: 10,000 offerings in one agent process, blackbox_exporter at the same rate, and
a takeover between two agents on PostgreSQL.

Four cases, one after another in one run (so they do not share the 2 cores):

1. **load**: one agent process (``python -m bench._agent``: the real Service and HTTP
   server, SQLite, as shipped) control-probes ``--offerings`` offerings every
   ``--interval`` seconds (10,000 every 30 s: about 333 probes a second), spread over
   ``--simulators`` simulator processes so the simulator is not what is measured. After a
   warm-up of one interval, a window of ``--seconds`` is measured:

   - ``drift_p99_ms``: a probe's start (its stored ``started_at``) minus its grid time
     (``slot * interval + phase``, see ``monitor.shards``), every stored probe of the window;
   - ``lost``: grid slots in the window (up to one interval before its end) with no stored
     result, read from the SQLite file after the agent's own SIGTERM shutdown;
   - ``rss_mib``: the agent process's peak VmRSS over the window (``/proc``);
   - ``cpu_ms_per_probe_agent``: utime + stime of the whole agent process (probes, store,
     health, metrics, HTTP) over the window, divided by the probes started in it;
   - ``series_per_offering``: samples in one ``/metrics`` scrape / offerings;
   - ``metrics_scrape_p99_ms_at_offerings``: a whole ``/metrics`` scrape over HTTP
     (request to last byte, from this process) every 15 s during the window, p99.
2. **render**: the same agent with ``--render-offerings`` (1,000) offerings under their
   full probing load, scraped every 2 s: ``metrics_render_p99_ms_under_load`` (issue 18
   goal 4 is stated at 1,000 offerings).
3. **blackbox**: ``prometheus-blackbox-exporter`` probing the same simulators' same
   endpoint at the same rate for ``--blackbox-seconds``, driven by a separate process
   (``GET /probe``, several driver processes so the rate is reached); its whole-process
   CPU per probe (``/proc``).
4. **takeover**: two agents of one vantage on a fresh PostgreSQL schema (the shipped
   ``agents:`` defaults: 32 shards, 15 s lease), ``--takeover-offerings`` offerings every
   ``--interval`` s; once they split the offerings, one is SIGKILLed; ``takeover_s`` is the
   time until the survivor has probed every offering the dead one probed.

Run alone: ``python -m bench.scale`` (``--offerings 500 --seconds 60`` for a small check).
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench._agent import AgentProcess, offering_key
from bench._common import (
    cpu_seconds_of,
    machine,
    simulator,
    summary_ms,
    write_result,
)
from bench._scale_cases import blackbox_case, takeover_case
from monitor import heap
from monitor.interfaces import Kind
from monitor.scheduler import job_id
from monitor.shards import phase_of

NAME = "scale"
OFFERINGS = 10_000
INTERVAL = 30.0
SECONDS = 180.0
SIMULATORS = 2
#: as often as Prometheus scrapes by default (a scrape at 10,000 offerings is large)
SCRAPE_EVERY_S = 15.0
#: issue 18 goal 4 is stated at 1,000 offerings under their full probing load
RENDER_OFFERINGS = 1_000
RENDER_SCRAPE_EVERY_S = 2.0
TARGETS = {
    "drift_p99_ms": 250.0,
    "lost": 0,
    "rss_mib": 1024.0,
    "series_per_offering": 60.0,
    "metrics_render_p99_ms_under_load": 50.0,
    "takeover_s": 60.0,
}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Watcher(threading.Thread):
    """RSS every second and a whole ``/metrics`` scrape every 15 s, until stopped."""

    def __init__(self, pid: int, metrics_url: str, every: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.url, self.every = pid, metrics_url, every
        self.rss: list[float] = []
        self.scrapes: list[float] = []
        self.series = 0
        self.exposition_bytes = 0
        self.failed: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        next_scrape = time.monotonic()
        with httpx.Client(timeout=180, trust_env=False) as client:
            while not self.done.is_set():
                self.rss.append(rss_mib(self.pid))
                if self.every and time.monotonic() >= next_scrape:
                    self.scrape(client)
                    next_scrape = time.monotonic() + self.every
                self.done.wait(1.0)

    def scrape(self, client: httpx.Client) -> None:
        began = time.perf_counter()
        try:
            body = client.get(self.url).raise_for_status().content
        except httpx.HTTPError as exc:  # counted, and the watch goes on
            self.failed.append(f"{type(exc).__name__} after {time.perf_counter() - began:.1f}s")
            return
        self.scrapes.append(time.perf_counter() - began)
        self.exposition_bytes = len(body)
        self.series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))


def read_results(db: Path) -> list[tuple[str, float, str]]:
    """(offering, started_at epoch seconds, outcome) of every stored control probe."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT offering, started_at, outcome FROM probe_results WHERE kind = 'control'"
        ).fetchall()
    out = []
    for offering, started, outcome in rows:
        when = started if isinstance(started, str) else str(started)
        from datetime import UTC, datetime

        parsed = datetime.fromisoformat(when)
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
        out.append((offering, parsed.timestamp(), outcome))
    return out


def judge_slots(
    rows: list[tuple[str, float, str]],
    offerings: list[str],
    interval: float,
    since: float,
    until: float,
) -> dict[str, Any]:
    """Drift of every probe started in the window against its grid time, and the grid
    slots of the window (up to one interval before its end) that have no stored result."""
    phases = {o: phase_of(job_id(o, Kind.CONTROL), interval) for o in offerings}
    drift: list[float] = []
    seen: set[tuple[str, int]] = set()
    outcomes: dict[str, int] = {}
    for offering, started, outcome in rows:
        phase = phases.get(offering)
        if phase is None:
            continue
        slot = int((started - phase) // interval)
        seen.add((offering, slot))
        if since <= started < until:
            drift.append(started - (slot * interval + phase))
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    expected = 0
    missing: list[tuple[str, int]] = []
    last = until - interval
    for offering, phase in phases.items():
        first = int((since - phase) // interval) + 1
        slot = first
        while slot * interval + phase < last:
            expected += 1
            if (offering, slot) not in seen:
                missing.append((offering, slot))
            slot += 1
    return {
        "drift": drift,
        "expected_slots": expected,
        "missing": missing,
        "probes_in_window": len(drift),
        "outcomes": outcomes,
    }


def load_case(
    sims: list[tuple[str, int]],
    offerings: int,
    interval: float,
    seconds: float,
    folder: str,
    scrape_every: float = SCRAPE_EVERY_S,
    gc_young: int = heap.YOUNG,
    loop: str = "service",
    switch_ms: float = heap.SWITCH_S * 1000,
    name: str = "scale.db",
) -> dict[str, Any]:
    db = Path(folder) / name
    args = ["--db", f"sqlite:///{db}", "--offerings", str(offerings), "--interval", str(interval)]
    args += ["--gc-young", str(gc_young), "--loop", loop, "--switch-ms", str(switch_ms)]
    for url, _ in sims:
        args += ["--sim", url]
    agent = AgentProcess(args)
    try:
        if not agent.ready.wait(300):
            raise RuntimeError("the agent did not start within 300 s")
        print(f"[{NAME}] agent ready; warm-up {interval:g}s", flush=True)
        time.sleep(interval + 2)
        watcher = Watcher(agent.pid, agent.metrics_url, scrape_every)
        since = time.time()
        cpu0 = cpu_seconds_of(agent.pid)
        sim0 = sum(cpu_seconds_of(pid) for _, pid in sims)
        watcher.start()
        while (elapsed := time.time() - since) < seconds:
            time.sleep(min(15.0, seconds - elapsed))
            rss = watcher.rss[-1] if watcher.rss else float("nan")
            print(f"[{NAME}] {elapsed:4.0f}s rss {rss:.0f} MiB", flush=True)
        until = time.time()
        cpu = cpu_seconds_of(agent.pid) - cpu0
        sim_cpu = sum(cpu_seconds_of(pid) for _, pid in sims) - sim0
        watcher.done.set()
        watcher.join(timeout=120)
        if not watcher.scrapes:  # scrapes off during the window: one now, for the series
            with httpx.Client(timeout=180, trust_env=False) as client:
                watcher.scrape(client)
    finally:
        agent.stop(timeout=120)
    keys = [offering_key(i, len(sims)) for i in range(offerings)]
    judged = judge_slots(read_results(db), keys, interval, since, until)
    probes = judged["probes_in_window"]
    return {
        "window_seconds": round(until - since, 1),
        "probes_in_window": probes,
        "probes_per_second": round(probes / (until - since), 1),
        "drift_ms": summary_ms(judged["drift"]),
        "expected_slots": judged["expected_slots"],
        "lost": len(judged["missing"]),
        "lost_examples": [f"{o} slot {s}" for o, s in judged["missing"][:5]],
        "outcomes": judged["outcomes"],
        "rss_mib_max": round(max(watcher.rss), 1) if watcher.rss else None,
        "rss_mib_median": round(statistics.median(watcher.rss), 1) if watcher.rss else None,
        "agent_cpu_seconds": round(cpu, 2),
        "agent_cpu_share": round(cpu / (until - since), 3),
        "cpu_ms_per_probe_agent": round(cpu * 1000 / probes, 4) if probes else None,
        "simulator_cpu_ms_per_probe": round(sim_cpu * 1000 / probes, 4) if probes else None,
        "scrape_ms": summary_ms(watcher.scrapes),
        "scrapes_failed": watcher.failed,
        "series": watcher.series,
        "exposition_bytes": watcher.exposition_bytes,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--offerings", type=int, default=OFFERINGS)
    parser.add_argument("--interval", type=float, default=INTERVAL)
    parser.add_argument("--seconds", type=float, default=SECONDS, help="measured window")
    parser.add_argument("--simulators", type=int, default=SIMULATORS)
    parser.add_argument("--blackbox-seconds", type=float, default=60.0)
    parser.add_argument("--takeover-offerings", type=int, default=500, help="0: skip")
    parser.add_argument(
        "--scrape-every",
        type=float,
        default=SCRAPE_EVERY_S,
        help="seconds between /metrics scrapes in the window (0: one after it)",
    )
    parser.add_argument(
        "--render-offerings",
        type=int,
        default=RENDER_OFFERINGS,
        help="the /metrics case: offerings probed at --interval, scraped every 2 s (0: skip)",
    )
    parser.add_argument(
        "--gc-young",
        type=int,
        default=heap.YOUNG,
        help="the agent's youngest-generation GC threshold after start-up (monitor.heap; "
        "0: CPython's defaults and no freeze, as before issue 18's fix)",
    )
    parser.add_argument(
        "--switch-ms",
        type=float,
        default=heap.SWITCH_S * 1000,
        help="the agent's GIL switch interval after start-up (monitor.heap; 5: CPython's)",
    )
    parser.add_argument(
        "--loop",
        choices=("service", "asyncio"),
        default="service",
        help="the agent's event loop: the one provmon serves on (uvloop), or asyncio's",
    )
    args = parser.parse_args(argv)
    rate = args.offerings / args.interval
    print(
        f"[{NAME}] {args.offerings} offerings every {args.interval:g}s ({rate:.0f}/s) for "
        f"{args.seconds:g}s on {args.simulators} simulators",
        flush=True,
    )
    began = time.monotonic()
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as folder:
        sims = [stack.enter_context(simulator()) for _ in range(args.simulators)]
        load = load_case(
            sims,
            args.offerings,
            args.interval,
            args.seconds,
            folder,
            args.scrape_every,
            args.gc_young,
            args.loop,
            switch_ms=args.switch_ms,
        )
        print(f"[{NAME}] load: {load}", flush=True)
        render: dict[str, Any] = {"skipped": True}
        if args.render_offerings > 0:
            render = load_case(
                sims,
                args.render_offerings,
                args.interval,
                args.seconds,
                folder,
                RENDER_SCRAPE_EVERY_S,
                args.gc_young,
                args.loop,
                name="render.db",
                switch_ms=args.switch_ms,
            )
            print(f"[{NAME}] render: {render}", flush=True)
        blackbox: dict[str, Any] = {"skipped": True}
        if args.blackbox_seconds > 0:
            blackbox = blackbox_case([url for url, _ in sims], rate, args.blackbox_seconds)
            print(f"[{NAME}] blackbox: {blackbox}", flush=True)
        takeover: dict[str, Any] = {"skipped": True}
        if args.takeover_offerings > 0:
            takeover = takeover_case(sims[0][0], args.takeover_offerings, args.interval)
            print(f"[{NAME}] takeover: {takeover}", flush=True)
    measured = {
        "offerings": args.offerings,
        "drift_p99_ms": load["drift_ms"].get("p99"),
        "lost": load["lost"],
        "rss_mib": load["rss_mib_max"],
        "cpu_ms_per_probe_agent": load["cpu_ms_per_probe_agent"],
        "cpu_ms_per_probe_blackbox": blackbox.get("cpu_ms_per_probe"),
        "series_per_offering": round(load["series"] / args.offerings, 1),
        "metrics_render_p99_ms_under_load": render.get("scrape_ms", {}).get("p99"),
        "metrics_scrape_p99_ms_at_offerings": load["scrape_ms"].get("p99"),
        "takeover_s": takeover.get("takeover_s"),
    }
    checks = target_checks(measured)
    result = {
        "benchmark": NAME,
        "machine": machine(),
        "parameters": vars(args),
        **measured,
        "target_checks": checks,
        "met": all(c["met"] for c in checks),
        "load": load,
        "render": render,
        "blackbox": blackbox,
        "takeover": takeover,
        "seconds": round(time.monotonic() - began, 1),
        "notes": [
            "drift: stored started_at minus the slot's grid time (slot * interval + phase)",
            "cpu_ms_per_probe_agent: utime+stime of the whole agent process over the "
            "window / probes started in it; blackbox the same for its process, same rate",
            "metrics_render_p99_ms_under_load: whole HTTP /metrics scrapes (request to last "
            "byte) every 2 s of an agent probing --render-offerings (1,000) offerings every "
            "--interval s (the goal's case); metrics_scrape_p99_ms_at_offerings: the same "
            "every --scrape-every s of the --offerings agent (10,000: a 43 MB exposition)",
            "the cases run one after another, so they do not share the cores",
        ],
    }
    path = write_result(NAME, result)
    for check in checks:
        print(f"  {check['name']:<36} {check['measured']!s:>10}  target {check['target']}")
    print(f"[{NAME}] wrote {path}: met={result['met']}", flush=True)
    return result


def target_checks(measured: dict[str, Any]) -> list[dict[str, Any]]:
    def check(name: str, value: Any, target: Any, ok: bool) -> dict[str, Any]:
        return {"name": name, "measured": value, "target": target, "met": bool(ok)}

    def at_most(name: str) -> dict[str, Any]:
        value, target = measured[name], TARGETS[name]
        return check(name, value, f"<= {target:g}", value is not None and value <= target)

    agent, bb = measured["cpu_ms_per_probe_agent"], measured["cpu_ms_per_probe_blackbox"]
    return [
        at_most("drift_p99_ms"),
        at_most("lost"),
        at_most("rss_mib"),
        check(
            "cpu_ms_per_probe_agent",
            agent,
            f"<= blackbox ({bb})",
            agent is not None and bb is not None and agent <= bb,
        ),
        at_most("series_per_offering"),
        at_most("metrics_render_p99_ms_under_load"),
        at_most("takeover_s"),
    ]


if __name__ == "__main__":
    main()
    sys.exit(0)
