"""CPU time per control probe: provmon beside Prometheus' blackbox_exporter.

Both probe the same simulator endpoint (``GET /openai/v1/models/imagen-4.0-generate-001``
with a bearer key, answered without injected delay) K times, one after another, in
alternating rounds. CPU is counted for the prober process only:

- provmon: ``time.process_time()`` of this process around ``Runner.run_probe`` calls (the
  simulator is a separate process);
- blackbox_exporter: ``utime + stime`` of its process from ``/proc/<pid>/stat``, driven by
  ``GET /probe?target=...&module=...`` from this process (the driver's CPU is not counted).

blackbox_exporter opens a new connection for every probe; provmon keeps connections
alive. ``provmon_new_connection`` closes provmon's client after every probe, to compare
like with like. A cProfile of provmon's probes is kept in ``profile_top``.

Run alone: ``python -m bench.cpu`` (``--probes`` per round).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import yaml

from bench._common import (
    HOST,
    OFFERING,
    cpu_seconds_of,
    fixed_latency_scenario,
    machine,
    print_table,
    quiet_logs,
    simulated_config,
    simulator,
    stop_process,
    wait_for_port,
    write_result,
)
from monitor.interfaces import Kind
from monitor.runner import Runner
from monitor.servers import free_port

NAME = "cpu"
BLACKBOX = "/usr/bin/prometheus-blackbox-exporter"
PROBES = 500
ROUNDS = 3
MODULE = "provmon_control"


def blackbox_binary() -> str | None:
    return shutil.which("prometheus-blackbox-exporter") or (
        BLACKBOX if Path(BLACKBOX).exists() else None
    )


def blackbox_config(secret: str) -> dict[str, Any]:
    return {
        "modules": {
            MODULE: {
                "prober": "http",
                "timeout": "5s",
                "http": {
                    "method": "GET",
                    "valid_status_codes": [200],
                    "headers": {"Authorization": f"Bearer {secret}"},
                    "preferred_ip_protocol": "ip4",
                },
            }
        }
    }


async def provmon_round(runner: Runner, probes: int, *, new_connection: bool) -> dict[str, Any]:
    ok = 0
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(probes):
        result = await runner.run_probe(OFFERING, Kind.CONTROL)
        ok += result.outcome == "ok"
        if new_connection:
            await runner.aclose()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "probes": probes,
        "ok": ok,
        "cpu_seconds": round(cpu, 4),
        "wall_seconds": round(wall, 3),
    }


def blackbox_round(client: httpx.Client, url: str, pid: int, probes: int) -> dict[str, Any]:
    ok = 0
    cpu, wall = cpu_seconds_of(pid), time.perf_counter()
    for _ in range(probes):
        ok += "probe_success 1" in client.get(url).text
    cpu, wall = cpu_seconds_of(pid) - cpu, time.perf_counter() - wall
    return {
        "probes": probes,
        "ok": ok,
        "cpu_seconds": round(cpu, 4),
        "wall_seconds": round(wall, 3),
    }


def per_probe_ms(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    each = [r["cpu_seconds"] / r["probes"] * 1000 for r in rounds]
    return {
        "median": round(statistics.median(each), 4),
        "rounds": [round(v, 4) for v in each],
        "ok": sum(r["ok"] for r in rounds),
        "probes": sum(r["probes"] for r in rounds),
    }


def profile(runner: Runner, loop: asyncio.AbstractEventLoop, probes: int) -> list[dict[str, Any]]:
    """Where provmon's CPU goes: the top functions by own time over ``probes`` probes."""
    prof = cProfile.Profile(time.process_time)  # CPU, not wall: waiting on epoll is free
    prof.enable()
    loop.run_until_complete(provmon_round(runner, probes, new_connection=False))
    prof.disable()
    stats = pstats.Stats(prof)
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    rows = sorted(
        stats.stats.items(),
        key=lambda kv: kv[1][2],  # type: ignore[attr-defined]
        reverse=True,
    )[:15]
    out = []
    for (path, line, func), (_cc, calls, tottime, cumtime, _callers) in rows:
        short = path.split("site-packages/")[-1].split("/work/main/")[-1]
        out.append(
            {
                "function": f"{short}:{line}({func})",
                "calls_per_probe": round(calls / probes, 2),
                "own_share": round(tottime / total, 3),
                "cumulative_ms_per_probe": round(cumtime / probes * 1000, 4),
            }
        )
    return out


def run(probes: int, rounds: int) -> dict[str, Any]:
    binary = blackbox_binary()
    if binary is None:
        raise SystemExit(
            "blackbox_exporter is missing: apt-get install -y prometheus-blackbox-exporter"
        )
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    with (
        simulator(fixed_latency_scenario(0.0)) as (sim_url, sim_pid),
        tempfile.TemporaryDirectory(prefix="provmon-bench-bb-") as folder,
    ):
        config = simulated_config(sim_url)
        provider = config.providers[config.provider_of(OFFERING)]
        target = f"{provider.base_url}/models/{config.offerings[OFFERING].provider_model}"
        config_file = Path(folder) / "blackbox.yml"
        config_file.write_text(yaml.safe_dump(blackbox_config("sim-lumenfall-key")))
        port = free_port(HOST)
        bb_log = (Path(folder) / "blackbox.log").open("w")
        bb = subprocess.Popen(
            [
                binary,
                f"--config.file={config_file}",
                f"--web.listen-address={HOST}:{port}",
                "--log.level=warn",
            ],
            stdout=bb_log,
            stderr=subprocess.STDOUT,
        )
        loop = asyncio.new_event_loop()
        runner = Runner(config)
        try:
            wait_for_port(port, proc=bb)
            probe_url = f"http://{HOST}:{port}/probe?" + urlencode(
                {"target": target, "module": MODULE}
            )
            sides: dict[str, list[dict[str, Any]]] = {
                "provmon": [],
                "provmon_new_connection": [],
                "blackbox_exporter": [],
            }
            sim_cpu: dict[str, float] = dict.fromkeys(sides, 0.0)
            with httpx.Client(timeout=10, trust_env=False) as driver:
                # warm-up: imports, first connections, Go's runtime
                loop.run_until_complete(provmon_round(runner, 20, new_connection=False))
                blackbox_round(driver, probe_url, bb.pid, 20)
                for _ in range(rounds):  # alternate, so drift in the machine hits both
                    for side in sides:
                        before = cpu_seconds_of(sim_pid)
                        if side == "blackbox_exporter":
                            found = blackbox_round(driver, probe_url, bb.pid, probes)
                        else:
                            found = loop.run_until_complete(
                                provmon_round(runner, probes, new_connection=side != "provmon")
                            )
                        sim_cpu[side] += cpu_seconds_of(sim_pid) - before
                        sides[side].append(found)
            top = profile(runner, loop, probes)
        finally:
            loop.run_until_complete(runner.aclose())
            loop.close()
            stop_process(bb)
            bb_log.close()
    return {
        "sides": sides,
        "sim_cpu": sim_cpu,
        "profile": top,
        "target_url": target,
        "blackbox_version": version.stdout.splitlines()[0] if version.stdout else "",
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cpu",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--probes", type=int, default=PROBES, help="probes per round")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args(argv)
    quiet_logs()
    print(f"[{NAME}] {args.rounds} rounds x {args.probes} control probes per side", flush=True)
    found = run(args.probes, args.rounds)
    per = {side: per_probe_ms(rounds) for side, rounds in found["sides"].items()}
    for side, total in found["sim_cpu"].items():
        per[side]["simulator_cpu_ms_per_probe"] = round(
            total * 1000 / max(1, per[side]["probes"]), 4
        )
    bb = per["blackbox_exporter"]["median"]
    ratio = round(per["provmon"]["median"] / bb, 3) if bb else None
    ratio_new = round(per["provmon_new_connection"]["median"] / bb, 3) if bb else None
    result = {
        "name": NAME,
        "machine": machine(),
        "parameters": {
            "probes_per_round": args.probes,
            "rounds": args.rounds,
            "kind": "control",
            "target_url": found["target_url"].replace(
                found["target_url"].split("/openai")[0], "http://127.0.0.1:<port>"
            ),
            "injected_latency_seconds": 0.0,
            "blackbox_exporter": found["blackbox_version"],
            "blackbox_module": blackbox_config("<simulator key>")["modules"][MODULE],
            "sequential": True,
        },
        "cpu_ms_per_probe": per,
        "ratio_provmon_to_blackbox": ratio,
        "ratio_provmon_new_connection_to_blackbox": ratio_new,
        "target": {
            "description": "CPU per control probe, provmon / blackbox_exporter "
            "(product as shipped, keep-alive)",
            "max_ratio": 1.0,
        },
        "met": ratio is not None and ratio <= 1.0,
        "profile_top": found["profile"],
        "notes": notes(per, ratio, ratio_new, found["profile"]),
    }
    path = write_result(NAME, result)
    table = [["prober", "cpu ms/probe (median)", "rounds", "ok/probes"]]
    for side, p in per.items():
        table.append(
            [side, str(p["median"]), ", ".join(map(str, p["rounds"])), f"{p['ok']}/{p['probes']}"]
        )
    print_table(table)
    print(
        f"ratio provmon/blackbox {ratio} (new connection each probe: {ratio_new}); "
        f"target <= 1.0: met={result['met']}"
    )
    print(f"[{NAME}] wrote {path}")
    return result


def notes(
    per: dict[str, Any], ratio: float | None, ratio_new: float | None, top: list[dict[str, Any]]
) -> list[str]:
    heaviest = ", ".join(f"{t['function']} {t['own_share']:.0%}" for t in top[:6])
    return [
        f"provmon {per['provmon']['median']} ms vs blackbox_exporter "
        f"{per['blackbox_exporter']['median']} ms CPU per control probe (ratio {ratio}); "
        f"with a new connection per probe, as blackbox does, provmon uses "
        f"{per['provmon_new_connection']['median']} ms (ratio {ratio_new}).",
        "blackbox_exporter's figure also pays for serving the /probe request and rendering "
        "its metrics; provmon's for the runner's bookkeeping (result object, phases, uuid) "
        "but no sinks (store, metrics) are attached here.",
        f"Heaviest functions by own time in provmon (cProfile): {heaviest}.",
    ]


if __name__ == "__main__":
    main()
