"""Whole-process CPU per control probe: the provmon agent beside blackbox_exporter.

Both probe the same simulator at the same rate, at the same time:

- the agent is ``provmon run`` in a process of its own (scheduler, runner, health,
  metrics, result writer on a file SQLite, HTTP server: the service as shipped), with
  ``OFFERINGS`` control-only offerings (``lumenfall/agent-NNN``, each a real Imagen 4 id
  of the simulator's OpenAI-compatible fake) every ``INTERVAL`` seconds, with the
  product's default jitter (3 s); one agent per HTTP network backend in ``--backends``
  (``asyncio``, the product's default, ``monitor/netbackend.py``; ``anyio``, httpcore's
  own), all running at once, so each is measured beside the others under the same load;
- Prometheus' ``blackbox_exporter`` probes the same URLs (``GET .../models/<id>`` with a
  bearer key) at the same rate, each ``/probe`` asked for by a driver in this process as
  Prometheus would (the driver's CPU is not counted, as Prometheus' would not be).

CPU is user + system time of each whole process (every thread) from ``/proc/<pid>/stat``
over the measured window, after a warm-up; probes are the rows the agent stored in that
window (a fresh connection counts them) and the ``/probe`` calls blackbox answered.

Then, the measurement over, ``py-spy`` (when installed: ``pip install py-spy``) samples
the first agent for ``--profile-seconds`` and the top functions by own and by inclusive
time are kept in ``profile`` (``bench/_profile.py``: so it is known where its time goes).

Run alone: ``python -m bench.agent_cpu`` (``--offerings``, ``--interval``, ``--seconds``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench._common import (
    HOST,
    cpu_seconds_of,
    machine,
    provmon_command,
    quiet_logs,
    simulator,
    stop_process,
    wait_for_port,
    write_result,
)
from bench._cpu_peers import BARE, bare_count, drive_blackbox
from bench._profile import profile
from bench.cpu import blackbox_binary, blackbox_config
from monitor.catalogs import load_catalog
from monitor.config import point_at_simulator
from monitor.config import simulator_credentials as sim_credentials
from monitor.http import BACKEND_ENV, BACKENDS
from monitor.servers import free_port
from monitor.store import Store

NAME = "agent_cpu"
PROVIDER = "lumenfall"
TIERS = ("imagen-4.0-fast-generate-001", "imagen-4.0-generate-001", "imagen-4.0-ultra-generate-001")
OFFERINGS = 900
INTERVAL = 30.0
#: the product's default control jitter
JITTER = 3.0
SECONDS = 120.0
WARM_UP = 20.0
PROFILE_SECONDS = 30.0
#: the goal: the agent's CPU per probe at most blackbox_exporter's
MAX_RATIO = 1.0


def agent_config(sim_url: str, offerings: int, interval: float, port: int) -> dict[str, Any]:
    """The config file of the agent: ``offerings`` control-only offerings at the simulator."""
    base = load_catalog("imagen4")
    os.environ.update(sim_credentials(base))
    simulated = point_at_simulator(base, sim_url)
    entries: dict[str, Any] = {}
    for i in range(offerings):
        template = simulated.offerings[f"{PROVIDER}/{TIERS[i % 3]}"].model_dump(mode="json")
        template["pricing_sources"] = []
        entries[f"{PROVIDER}/agent-{i:04d}"] = template
    return {
        "vantage": "bench",
        "listen": {"host": HOST, "port": port},
        "defaults": {
            **simulated.defaults.model_dump(mode="json"),
            "timeout_seconds": 30,
            "control": {"interval_seconds": interval, "jitter_seconds": min(JITTER, interval / 10)},
            "generate": {"interval_seconds": 3600, "jitter_seconds": 0, "enabled": False},
        },
        "discovery": {"enabled": False},
        "models": {f"agent-{i:04d}": {"family": "bench"} for i in range(offerings)},
        "providers": {PROVIDER: simulated.providers[PROVIDER].model_dump(mode="json")},
        "offerings": entries,
    }


def targets(config: dict[str, Any]) -> list[str]:
    """The URL each offering's control probe asks for, as blackbox_exporter's targets."""
    base = config["providers"][PROVIDER]["base_url"]
    return [f"{base}/models/{o['provider_model']}" for o in config["offerings"].values()]


def stored(db_url: str) -> int:
    store = Store(db_url)
    try:
        return store.count_results()
    finally:
        store.dispose()


def outcomes(db_url: str, newest: int) -> dict[str, int]:
    """Outcomes of the agent's ``newest`` stored results (a failing probe is followed by
    early confirming ones: an overloaded simulator shows here first)."""
    store = Store(db_url)
    try:
        return dict(Counter(r.outcome.value for r in store.recent_results(limit=newest)))
    finally:
        store.dispose()


@dataclass
class Agent:
    """One ``provmon run`` on one HTTP network backend, with its own port and database."""

    backend: str
    port: int
    db_url: str
    proc: subprocess.Popen[bytes]
    #: (CPU seconds, stored rows) at the start of the measured window, then its growth
    window: list[float] = field(default_factory=list)


@contextlib.contextmanager
def started(
    command: list[str], log: Path, env: dict[str, str] | None = None, grace: float = 5.0
) -> Iterator[subprocess.Popen[bytes]]:
    """A process of the benchmark, its output in ``log``; stopped on exit."""
    with log.open("w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            yield proc
        finally:
            stop_process(proc, grace=grace)


def start_agents(
    stack: contextlib.ExitStack,
    folder: Path,
    sim_url: str,
    offerings: int,
    interval: float,
    backends: list[str],
) -> tuple[list[Agent], dict[str, Any]]:
    """One agent per backend, all probing the same offerings; the config of the last."""
    agents, config = [], {}
    for backend in backends:
        port = free_port(HOST)
        config = agent_config(sim_url, offerings, interval, port)
        config_file = folder / f"provmon-{backend}.yaml"
        config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
        db_url = f"sqlite:///{folder}/agent-{backend}.db"
        env = {**os.environ, "PROVMON_DATABASE_URL": db_url, BACKEND_ENV: backend}
        command = [*provmon_command(), "run", "--config", str(config_file)]
        proc = stack.enter_context(started(command, folder / f"agent-{backend}.log", env, 30))
        agents.append(Agent(backend, port, db_url, proc))
    return agents, config


def run(
    offerings: int, interval: float, seconds: float, profile_s: float, backends: list[str]
) -> dict[str, Any]:
    binary = blackbox_binary()
    if binary is None:
        raise SystemExit(
            "blackbox_exporter is missing: apt-get install -y prometheus-blackbox-exporter"
        )
    tally: Counter[str] = Counter()
    with (
        simulator() as (sim_url, sim_pid),
        tempfile.TemporaryDirectory(prefix="provmon-bench-agent-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        folder = Path(tmp)
        agents, config = start_agents(stack, folder, sim_url, offerings, interval, backends)
        bb_port, bb_file = free_port(HOST), folder / "blackbox.yml"
        bb_file.write_text(yaml.safe_dump(blackbox_config("sim-lumenfall-key")))
        bb = stack.enter_context(
            started(
                [
                    *(binary, f"--config.file={bb_file}"),
                    *(f"--web.listen-address={HOST}:{bb_port}", "--log.level=warn"),
                ],
                folder / "blackbox.log",
            )
        )
        bare_file, bare_targets = folder / "bare.count", folder / "targets.json"
        bare_targets.write_text(json.dumps(targets(config)), encoding="utf-8")
        bare = stack.enter_context(
            started(
                [
                    *(sys.executable, "-c", BARE, str(bare_targets), str(interval)),
                    *("sim-lumenfall-key", str(bare_file)),
                ],
                folder / "bare.log",
            )
        )
        for agent in agents:
            wait_for_port(agent.port, proc=agent.proc, timeout=120)
        wait_for_port(bb_port, proc=bb)
        urls = targets(config)
        random.Random(1).shuffle(urls)
        loop = asyncio.new_event_loop()
        try:
            # warm-up: all start probing; the agents' first round and imports settle
            loop.run_until_complete(drive_blackbox(bb_port, urls, interval, WARM_UP, Counter()))
            for agent in agents:
                agent.window = [cpu_seconds_of(agent.proc.pid), stored(agent.db_url)]
            others = [cpu_seconds_of(p) for p in (bb.pid, bare.pid, sim_pid)]
            bare_n, wall = bare_count(bare_file), time.monotonic()
            loop.run_until_complete(drive_blackbox(bb_port, urls, interval, seconds, tally))
            for agent in agents:
                now = [cpu_seconds_of(agent.proc.pid), stored(agent.db_url)]
                agent.window = [b - a for a, b in zip(agent.window, now, strict=True)]
            bb_cpu, bare_cpu, sim_cpu = (
                cpu_seconds_of(p) - was
                for p, was in zip((bb.pid, bare.pid, sim_pid), others, strict=True)
            )
            bare_n, wall = bare_count(bare_file) - bare_n, time.monotonic() - wall
        finally:
            loop.close()
        keep = os.environ.get("AGENT_CPU_KEEP_PROFILE")
        top = profile(agents[0].proc.pid, profile_s, tmp, keep) if profile_s > 0 else {}
        gone = [a.backend for a in agents if a.proc.poll() is not None]
        if gone:
            raise RuntimeError(f"the agent on {', '.join(gone)} exited")
        by_backend = {
            a.backend: {
                "cpu_seconds": round(a.window[0], 3),
                "probes": int(a.window[1]),
                **outcomes(a.db_url, int(a.window[1])),
            }
            for a in agents
        }
    return {
        "agents": by_backend,
        "blackbox": {"cpu_seconds": round(bb_cpu, 3), "probes": sum(tally.values()), **tally},
        "bare_httpx": {"cpu_seconds": round(bare_cpu, 3), "probes": bare_n},
        "simulator_cpu_seconds": round(sim_cpu, 3),
        "wall_seconds": round(wall, 1),
        "profile": top,
    }


def per_probe_ms(side: dict[str, Any]) -> float:
    return float(side["cpu_seconds"]) * 1000 / max(1, int(side["probes"]))


def backends_arg(text: str) -> list[str]:
    chosen = [b.strip() for b in text.split(",") if b.strip()]
    unknown = [b for b in chosen if b not in BACKENDS]
    if not chosen or unknown or len(set(chosen)) != len(chosen):
        raise argparse.ArgumentTypeError(f"a comma-separated list of {', '.join(BACKENDS)}")
    return chosen


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.agent_cpu",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--offerings", type=int, default=OFFERINGS)
    parser.add_argument("--interval", type=float, default=INTERVAL, help="control interval, s")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="measured window, s")
    parser.add_argument("--profile-seconds", type=float, default=PROFILE_SECONDS)
    parser.add_argument(
        "--backends",
        type=backends_arg,
        default=list(BACKENDS),
        help="one agent per HTTP network backend, side by side; the first is the one "
        f"held to the target (default: {','.join(BACKENDS)})",
    )
    args = parser.parse_args(argv)
    quiet_logs()
    rate = args.offerings / args.interval
    print(
        f"[{NAME}] {args.offerings} offerings every {args.interval:g} s ({rate:.0f} probes/s) "
        f"for {args.seconds:g} s: agents on {', '.join(args.backends)} and blackbox_exporter "
        "side by side",
        flush=True,
    )
    found = run(args.offerings, args.interval, args.seconds, args.profile_seconds, args.backends)
    agents, bb, bare = found["agents"], found["blackbox"], found["bare_httpx"]
    per_agent = {b: round(per_probe_ms(side), 4) for b, side in agents.items()}
    per_bb, per_bare = per_probe_ms(bb), per_probe_ms(bare)
    main_backend = args.backends[0]
    ratios = {b: round(ms / per_bb, 3) if per_bb else None for b, ms in per_agent.items()}
    expected = rate * found["wall_seconds"]
    counts = {
        **{f"agent_{b}": side["probes"] for b, side in agents.items()},
        "blackbox": bb["probes"],
    }
    ratio = ratios[main_backend]
    checks = [
        {
            "check": "agent whole-process CPU per probe <= blackbox_exporter's",
            "backend": main_backend,
            "agent_ms": per_agent[main_backend],
            "blackbox_ms": round(per_bb, 4),
            "ratio": ratio,
            "max_ratio": MAX_RATIO,
            "met": ratio is not None and ratio <= MAX_RATIO,
        },
        {
            "check": "every side probed at the configured rate (within 10 %)",
            "expected": round(expected),
            **counts,
            "met": all(abs(n - expected) <= 0.1 * expected for n in counts.values()),
        },
    ]
    result = {
        "name": NAME,
        "machine": machine(),
        "parameters": {
            "offerings": args.offerings,
            "interval_seconds": args.interval,
            "probes_per_second": round(rate, 2),
            "measured_seconds": args.seconds,
            "warm_up_seconds": WARM_UP,
            "kind": "control",
            "database": "sqlite (file)",
            "backends": args.backends,
        },
        "probes": {**counts, "bare_httpx": bare["probes"]},
        #: the agent on the product's HTTP backend (the first of ``--backends``)
        "agent_backend": main_backend,
        "cpu_ms_per_probe_agent": per_agent[main_backend],
        "cpu_ms_per_probe_agent_by_backend": per_agent,
        "cpu_ms_per_probe_blackbox": round(per_bb, 4),
        #: the floor: the same requests from bare httpx on asyncio, same run
        "cpu_ms_per_probe_bare_httpx": round(per_bare, 4),
        "ratio": ratios[main_backend],
        "ratio_by_backend": ratios,
        "detail": found,
        "target_checks": checks,
        "met": all(c["met"] for c in checks),
    }
    path = write_result(NAME, result)
    agents_text = ", ".join(f"{b} {ms:.3f} ms" for b, ms in per_agent.items())
    print(
        f"[{NAME}] agent ({agents_text}), blackbox_exporter {per_bb:.3f} ms CPU per probe "
        f"(ratio {result['ratio']}), bare httpx {per_bare:.3f} ms; probes {counts} / "
        f"bare {bare['probes']}; met={result['met']}",
        flush=True,
    )
    for row in found["profile"].get("own_top", [])[:12]:
        print(f"  {row['share']:6.1%}  {row['function']}")
    print(f"[{NAME}] wrote {path}", flush=True)
    return result


if __name__ == "__main__":
    main()
