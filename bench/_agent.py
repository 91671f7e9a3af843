"""One provmon agent in a process of its own, for ``bench.scale`` and
``tests/test_agent_takeover.py``: the real :class:`~monitor.service.Service` (scheduler,
runner, writer, health, metrics) and its HTTP server, on N synthetic offerings whose
control probes go to one or more simulators.

    python -m bench._agent --db URL --sim URL [--sim URL ...] --offerings N
        [--interval S] [--shards S --lease-ttl S --renew S] [--events]

Prints ``{"ready": <metrics URL>}`` once serving; with ``--events`` one JSON line per
probe result (``{"o": offering, "t": started_at, "id": probe_id, "ok": bool}``).
SIGTERM stops it the way ``provmon run`` stops (probes in flight finish, results flushed).

Each simulator gets a provider of its own (``s0``, ``s1``, ... of protocol ``lumenfall``,
the OpenAI-compatible API), and offering ``i`` is ``s{i % k}/scale-{i:05d}``, model id
``imagen-4.0-generate-001`` at the fake: every control probe is a real
``GET /openai/v1/models/<id>`` with a bearer key over a loopback socket. Generate probes
are off (no budget, no image traffic: the scale case is about the control cadence).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from monitor import heap
from monitor.catalogs import load_catalog
from monitor.cli_serve import new_loop
from monitor.config import Config, parse_config, point_at_simulator, simulator_credentials
from monitor.interfaces import ProbeResult
from monitor.servers import Server
from monitor.service import Service
from monitor.web import build_api

TEMPLATE = "lumenfall/imagen-4.0-generate-001"


def offering_key(i: int, simulators: int) -> str:
    return f"s{i % simulators}/scale-{i:05d}"


def scale_config(
    sims: list[str],
    offerings: int,
    *,
    interval: float = 30.0,
    agents: dict[str, Any] | None = None,
    vantage: str = "scale",
) -> Config:
    """``offerings`` control-probed offerings spread over the simulators ``sims``."""
    base = load_catalog("imagen4")
    os.environ.update(simulator_credentials(base))
    simulated = point_at_simulator(base, sims[0])
    lumenfall = simulated.providers["lumenfall"].model_dump(mode="json")
    providers = {
        f"s{k}": {**lumenfall, "base_url": lumenfall["base_url"].replace(sims[0], url)}
        for k, url in enumerate(sims)
    }
    template = simulated.offerings[TEMPLATE].model_dump(mode="json")
    template["pricing_sources"] = []
    data: dict[str, Any] = {
        "vantage": vantage,
        "defaults": {
            **simulated.defaults.model_dump(mode="json"),
            "timeout_seconds": min(20.0, interval),
            "control": {"interval_seconds": interval, "jitter_seconds": 0},
            "generate": {"enabled": False, "interval_seconds": 3600, "jitter_seconds": 0},
        },
        # a confirmation is the next regular probe: one probe per offering and slot
        "cadence": {"control_confirm_seconds": interval},
        "budget": {"daily_usd": "0"},
        "models": {f"scale-{i:05d}": {"family": "scale"} for i in range(offerings)},
        "providers": providers,
        "offerings": {offering_key(i, len(sims)): template for i in range(offerings)},
        "discovery": {"enabled": False},
        "agents": agents or {},
    }
    return parse_config(data, origin="bench scale")


class Events:
    """A result sink printing one JSON line per probe."""

    def accept(self, result: ProbeResult) -> None:
        line = {
            "o": result.offering,
            "t": result.started_at.timestamp(),
            "id": result.probe_id,
            "ok": result.outcome == "ok",
        }
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()


async def serve(
    config: Config,
    db_url: str,
    events: bool,
    gc_young: int = heap.YOUNG,
    switch_s: float = heap.SWITCH_S,
) -> None:
    service = Service(config, db_url)
    if events:
        service.runner.sinks.append(Events())
    server = Server(build_api(service), "127.0.0.1", 0)
    await server.start()
    await service.start()
    if gc_young:
        heap.settle(gc_young, switch_s)
    print(json.dumps({"ready": f"{server.url}/metrics", "pid": os.getpid()}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await service.stop(grace=30)
    await server.stop()
    print(json.dumps({"stopped": True}), flush=True)


ROOT = Path(__file__).resolve().parent.parent


class AgentProcess:
    """``python -m bench._agent ARGS`` in a child process; its stdout read by a thread."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench._agent", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.events: list[dict[str, Any]] = []
        self.metrics_url = ""
        self.ready = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            item = json.loads(line)
            if "ready" in item:
                self.metrics_url = item["ready"]
                self.ready.set()
            elif "o" in item:
                self.events.append(item)

    def probed(self, since: float, until: float = math.inf) -> set[str]:
        """The offerings this agent probed with a start in ``[since, until)``."""
        return {e["o"] for e in list(self.events) if since <= e["t"] < until}

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM (probes in flight finish, results flushed), SIGKILL after ``timeout``."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._agent")
    parser.add_argument("--db", required=True)
    parser.add_argument("--sim", action="append", required=True)
    parser.add_argument("--offerings", type=int, required=True)
    parser.add_argument("--interval", type=float, default=30.0)
    parser.add_argument("--shards", type=int)
    parser.add_argument("--lease-ttl", type=float)
    parser.add_argument("--renew", type=float)
    parser.add_argument("--events", action="store_true")
    parser.add_argument(
        "--gc-young",
        type=int,
        default=heap.YOUNG,
        help="youngest-generation GC threshold after start-up (0: CPython's defaults, no freeze)",
    )
    parser.add_argument(
        "--switch-ms",
        type=float,
        default=heap.SWITCH_S * 1000,
        help="the GIL's switch interval after start-up (monitor.heap; CPython's is 5)",
    )
    parser.add_argument("--profile", help="write a cProfile (CPU time) of the run here")
    parser.add_argument(
        "--loop",
        choices=("service", "asyncio"),
        default="service",
        help="service: the loop provmon serves on (uvloop); asyncio: asyncio's own",
    )
    args = parser.parse_args(argv)
    agents: dict[str, Any] = {}
    if args.shards:
        agents["shards"] = args.shards
    if args.lease_ttl:
        agents["lease_ttl_seconds"] = args.lease_ttl
    if args.renew:
        agents["renew_seconds"] = args.renew
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    for name in ("apscheduler", "monitor"):
        logging.getLogger(name).setLevel(logging.ERROR)
    config = scale_config(args.sim, args.offerings, interval=args.interval, agents=agents)
    factory = new_loop if args.loop == "service" else asyncio.new_event_loop

    def run() -> None:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(serve(config, args.db, args.events, args.gc_young, args.switch_ms / 1000))

    if not args.profile:
        run()
        return
    import cProfile
    import time

    profile = cProfile.Profile(time.process_time)
    profile.enable()
    try:
        run()
    finally:
        profile.disable()
        profile.dump_stats(args.profile)


if __name__ == "__main__":
    main()
