"""Whole-process CPU per control probe: the provmon agent beside blackbox_exporter.

Both probe the same simulator at the same rate, at the same time:

- the agent is ``provmon run`` in a process of its own (scheduler, runner, health,
  metrics, result writer on a file SQLite, HTTP server: the service as shipped), with
  ``OFFERINGS`` control-only offerings (``lumenfall/agent-NNN``, each a real Imagen 4 id
  of the simulator's OpenAI-compatible fake) every ``INTERVAL`` seconds, with the
  product's default jitter (3 s);
- Prometheus' ``blackbox_exporter`` probes the same URLs (``GET .../models/<id>`` with a
  bearer key) at the same rate, each ``/probe`` asked for by a driver in this process as
  Prometheus would (the driver's CPU is not counted, as Prometheus' would not be).

CPU is user + system time of each whole process (every thread) from ``/proc/<pid>/stat``
over the measured window, after a warm-up; probes are the rows the agent stored in that
window (a fresh connection counts them) and the ``/probe`` calls blackbox answered.

Then, the measurement over, ``py-spy`` (when installed: ``pip install py-spy``) samples
the agent for ``--profile-seconds`` and the top functions by own and by inclusive time
are kept in ``profile`` (so it is known where the agent's time goes).

Run alone: ``python -m bench.agent_cpu`` (``--offerings``, ``--interval``, ``--seconds``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
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
from bench.cpu import MODULE, blackbox_binary, blackbox_config
from monitor.catalogs import load_catalog
from monitor.config import point_at_simulator
from monitor.config import simulator_credentials as sim_credentials
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


async def drive_blackbox(
    port: int, urls: list[str], interval: float, seconds: float, tally: Counter[str]
) -> None:
    """Ask blackbox_exporter for every target once per ``interval``, spread evenly, as
    Prometheus scraping one job per target would; ``tally`` counts answers."""
    step = interval / len(urls)
    began = time.monotonic()
    tasks: set[asyncio.Task[None]] = set()
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:

        async def one(url: str) -> None:
            query = urlencode({"target": url, "module": MODULE})
            try:
                body = (await client.get(f"http://{HOST}:{port}/probe?{query}")).text
            except httpx.HTTPError:
                tally["error"] += 1
                return
            tally["ok" if "probe_success 1" in body else "failed"] += 1

        n = 0
        while (at := n * step) < seconds:
            delay = began + at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(urls[n % len(urls)]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
        if tasks:
            await asyncio.gather(*tasks)


#: the floor: the same requests from bare httpx on asyncio (one client per target, kept
#: alive as the agent's), no scheduler, store, health or metrics; counts into a file
BARE = """
import asyncio, json, sys, time, httpx
urls, interval = json.load(open(sys.argv[1])), float(sys.argv[2])
key, out = sys.argv[3], sys.argv[4]
async def main():
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4, keepalive_expiry=30)
    clients = [httpx.AsyncClient(limits=limits, timeout=30, trust_env=False) for _ in urls]
    done = [0]
    async def one(i):
        try:
            await clients[i].get(urls[i], headers={"Authorization": f"Bearer {key}"})
        except httpx.HTTPError:
            pass
        done[0] += 1
    async def report():
        while True:
            open(out, "w").write(str(done[0]))
            await asyncio.sleep(0.2)
    asyncio.create_task(report())
    step, began, n, tasks = interval / len(urls), time.monotonic(), 0, set()
    while True:
        delay = began + n * step - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(n % len(urls)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        n += 1
asyncio.run(main())
"""


def bare_count(path: Path) -> int:
    text = path.read_text() if path.exists() else ""
    return int(text) if text.strip().isdigit() else 0


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


def py_spy() -> str | None:
    return (
        os.environ.get("PY_SPY")
        or shutil.which("py-spy")
        or next(
            (str(p) for p in [Path(sys.executable).parent / "py-spy"] if p.exists()),
            None,
        )
    )


def profile(pid: int, seconds: float, folder: str, keep: str | None = None) -> dict[str, Any]:
    """``py-spy`` over the agent for ``seconds``: the top functions by own and inclusive
    share of the samples (all threads, idle excluded)."""
    binary = py_spy()
    if binary is None:
        return {"skipped": "py-spy is not installed (pip install py-spy)"}
    out = Path(folder) / "profile.txt"
    done = subprocess.run(
        [
            *(binary, "record", "--pid", str(pid), "--duration", str(int(seconds))),
            *("--rate", "200", "--function", "--format", "raw", "--nonblocking"),
            *("--output", str(out)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not out.exists():
        return {"skipped": f"py-spy failed: {done.stderr.strip()[-300:]}"}
    if keep:
        shutil.copyfile(out, keep)
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    #: each sample charged to the innermost provmon function on its stack
    provmon: Counter[str] = Counter()
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_short(f) for f in stack.split(";")]
        if frames:
            own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
        ours = [f for f in frames if f.split(" (")[-1].startswith("monitor/")]
        provmon[ours[-1] if ours else "(outside provmon: event loop, threads)"] += n
    if not total:
        return {"skipped": "py-spy took no samples"}
    top_inclusive = [
        (f, n) for f, n in inclusive.most_common(200) if "monitor/" in f or "sqlalchemy" in f
    ][:25]
    return {
        "seconds": seconds,
        "samples": total,
        "own_top": [{"function": f, "share": round(n / total, 3)} for f, n in own.most_common(25)],
        "inclusive_top": [{"function": f, "share": round(n / total, 3)} for f, n in top_inclusive],
        "innermost_provmon_top": [
            {"function": f, "share": round(n / total, 3)} for f, n in provmon.most_common(25)
        ],
    }


def _short(frame: str) -> str:
    return frame.split("site-packages/")[-1].replace(str(Path.cwd()) + "/", "")


def run(offerings: int, interval: float, seconds: float, profile_s: float) -> dict[str, Any]:
    binary = blackbox_binary()
    if binary is None:
        raise SystemExit(
            "blackbox_exporter is missing: apt-get install -y prometheus-blackbox-exporter"
        )
    with (
        simulator() as (sim_url, sim_pid),
        tempfile.TemporaryDirectory(prefix="provmon-bench-agent-") as folder,
    ):
        agent_port, bb_port = free_port(HOST), free_port(HOST)
        config = agent_config(sim_url, offerings, interval, agent_port)
        config_file = Path(folder) / "provmon.yaml"
        config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
        bb_file = Path(folder) / "blackbox.yml"
        bb_file.write_text(yaml.safe_dump(blackbox_config("sim-lumenfall-key")))
        db_url = f"sqlite:///{folder}/agent.db"
        env = {**os.environ, "PROVMON_DATABASE_URL": db_url}
        agent_log = (Path(folder) / "agent.log").open("w")
        bb_log = (Path(folder) / "blackbox.log").open("w")
        agent = subprocess.Popen(
            [*provmon_command(), "run", "--config", str(config_file)],
            stdout=agent_log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        bb = subprocess.Popen(
            [
                *(binary, f"--config.file={bb_file}"),
                *(f"--web.listen-address={HOST}:{bb_port}", "--log.level=warn"),
            ],
            stdout=bb_log,
            stderr=subprocess.STDOUT,
        )
        bare_file, bare_targets = Path(folder) / "bare.count", Path(folder) / "targets.json"
        bare_targets.write_text(json.dumps(targets(config)), encoding="utf-8")
        bare = subprocess.Popen(
            [
                *(sys.executable, "-c", BARE, str(bare_targets), str(interval)),
                *("sim-lumenfall-key", str(bare_file)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        tally: Counter[str] = Counter()
        try:
            wait_for_port(agent_port, proc=agent, timeout=120)
            wait_for_port(bb_port, proc=bb)
            urls = targets(config)
            random.Random(1).shuffle(urls)
            loop = asyncio.new_event_loop()
            # warm-up: both start probing; the agent's first round and imports settle
            loop.run_until_complete(drive_blackbox(bb_port, urls, interval, WARM_UP, Counter()))
            rows, agent_cpu, bb_cpu = (
                stored(db_url),
                cpu_seconds_of(agent.pid),
                cpu_seconds_of(bb.pid),
            )
            bare_cpu, bare_n = cpu_seconds_of(bare.pid), bare_count(bare_file)
            sim_cpu, wall = cpu_seconds_of(sim_pid), time.monotonic()
            loop.run_until_complete(drive_blackbox(bb_port, urls, interval, seconds, tally))
            agent_cpu = cpu_seconds_of(agent.pid) - agent_cpu
            bb_cpu = cpu_seconds_of(bb.pid) - bb_cpu
            sim_cpu = cpu_seconds_of(sim_pid) - sim_cpu
            bare_cpu = cpu_seconds_of(bare.pid) - bare_cpu
            bare_n = bare_count(bare_file) - bare_n
            wall = time.monotonic() - wall
            rows = stored(db_url) - rows
            agent_outcomes = outcomes(db_url, rows)
            loop.close()
            keep = os.environ.get("AGENT_CPU_KEEP_PROFILE")
            top = profile(agent.pid, profile_s, folder, keep) if profile_s > 0 else {}
            if agent.poll() is not None:
                raise RuntimeError(f"the agent exited with {agent.returncode}")
        finally:
            stop_process(agent, grace=30)
            stop_process(bb)
            stop_process(bare)
            agent_log.close()
            bb_log.close()
    bb_probes = sum(tally.values())
    return {
        "agent": {"cpu_seconds": round(agent_cpu, 3), "probes": rows, **agent_outcomes},
        "blackbox": {"cpu_seconds": round(bb_cpu, 3), "probes": bb_probes, **tally},
        "bare_httpx": {"cpu_seconds": round(bare_cpu, 3), "probes": bare_n},
        "simulator_cpu_seconds": round(sim_cpu, 3),
        "wall_seconds": round(wall, 1),
        "profile": top,
    }


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
    args = parser.parse_args(argv)
    quiet_logs()
    rate = args.offerings / args.interval
    print(
        f"[{NAME}] {args.offerings} offerings every {args.interval:g} s ({rate:.0f} probes/s) "
        f"for {args.seconds:g} s, agent and blackbox_exporter side by side",
        flush=True,
    )
    found = run(args.offerings, args.interval, args.seconds, args.profile_seconds)
    agent, bb = found["agent"], found["blackbox"]
    per_agent = agent["cpu_seconds"] * 1000 / max(1, agent["probes"])
    per_bb = bb["cpu_seconds"] * 1000 / max(1, bb["probes"])
    ratio = per_agent / per_bb if per_bb else None
    bare = found["bare_httpx"]
    per_bare = bare["cpu_seconds"] * 1000 / max(1, bare["probes"])
    checks = [
        {
            "check": "agent whole-process CPU per probe <= blackbox_exporter's",
            "agent_ms": round(per_agent, 4),
            "blackbox_ms": round(per_bb, 4),
            "ratio": None if ratio is None else round(ratio, 3),
            "max_ratio": MAX_RATIO,
            "met": ratio is not None and ratio <= MAX_RATIO,
        },
        {
            "check": "both sides probed at the configured rate (within 10 %)",
            "expected": round(rate * found["wall_seconds"]),
            "agent": agent["probes"],
            "blackbox": bb["probes"],
            "met": all(
                abs(n - rate * found["wall_seconds"]) <= 0.1 * rate * found["wall_seconds"]
                for n in (agent["probes"], bb["probes"])
            ),
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
        },
        "probes": {
            "agent": agent["probes"],
            "blackbox": bb["probes"],
            "bare_httpx": bare["probes"],
        },
        "cpu_ms_per_probe_agent": round(per_agent, 4),
        "cpu_ms_per_probe_blackbox": round(per_bb, 4),
        #: the floor: the same requests from bare httpx on asyncio, same run
        "cpu_ms_per_probe_bare_httpx": round(per_bare, 4),
        "ratio": None if ratio is None else round(ratio, 3),
        "detail": found,
        "target_checks": checks,
        "met": all(c["met"] for c in checks),
    }
    path = write_result(NAME, result)
    print(
        f"[{NAME}] agent {per_agent:.3f} ms, blackbox_exporter {per_bb:.3f} ms CPU per probe "
        f"(ratio {result['ratio']}), bare httpx {per_bare:.3f} ms; probes {agent['probes']} / "
        f"{bb['probes']} / {bare['probes']}; "
        f"met={result['met']}",
        flush=True,
    )
    for row in found["profile"].get("own_top", [])[:12]:
        print(f"  {row['share']:6.1%}  {row['function']}")
    print(f"[{NAME}] wrote {path}", flush=True)
    return result


if __name__ == "__main__":
    main()
