"""``bench.scale``'s second and third cases: blackbox_exporter at the agent's rate, and
the takeover between two agents on PostgreSQL."""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import yaml

from bench._agent import AgentProcess, offering_key
from bench._common import (
    HOST,
    cpu_seconds_of,
    fresh_schema,
    postgres_server_url,
    stop_process,
    wait_for_port,
)
from bench.cpu import MODULE, blackbox_binary, blackbox_config
from monitor.servers import free_port

#: drives blackbox_exporter's ``/probe`` at a fixed rate from a process of its own (its
#: CPU is not counted): 5 s of warm-up, then "go", the measured run, "done N OK". Plain
#: HTTP/1.1 on kept-alive asyncio streams (httpx cost the driver more than the exporter
#: spent, and one driver reached 47 of the 333 probes a second asked)
DRIVER = """
import asyncio, sys, time
from urllib.parse import urlsplit
urls, rate, seconds = sys.argv[1].split(","), float(sys.argv[2]), float(sys.argv[3])
WORKERS = 64
async def worker(queue, counts):
    streams = {}
    while True:
        url = await queue.get()
        parts = urlsplit(url)
        try:
            if parts.netloc not in streams:
                streams[parts.netloc] = await asyncio.open_connection(parts.hostname, parts.port)
            reader, writer = streams[parts.netloc]
            target = parts.path + "?" + parts.query
            writer.write(f"GET {target} HTTP/1.1\\r\\nHost: {parts.netloc}\\r\\n\\r\\n".encode())
            head = await reader.readuntil(b"\\r\\n\\r\\n")
            length = None
            for line in head.split(b"\\r\\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if length is not None:
                body = await reader.readexactly(length)
            else:  # chunked, as Go writes a body past its buffer
                body = b""
                while size := int((await reader.readline()).strip(), 16):
                    body += (await reader.readexactly(size + 2))[:-2]
                await reader.readline()
            counts["ok"] += b"probe_success 1" in body
        except Exception:
            streams.pop(parts.netloc, None)
        finally:
            counts["done"] += 1
            queue.task_done()
async def main():
    queue, counts = asyncio.Queue(), {"ok": 0, "done": 0}
    workers = [asyncio.create_task(worker(queue, counts)) for _ in range(WORKERS)]
    async def run(length):
        start, n = time.perf_counter(), 0
        while n / rate < length:
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            queue.put_nowait(urls[n % len(urls)])
            n += 1
        await queue.join()
        return n
    await run(5.0)
    counts["ok"] = 0
    print("go", flush=True)
    n = await run(seconds)
    print("done", n, counts["ok"], flush=True)
    for w in workers:
        w.cancel()
asyncio.run(main())
"""


#: probes a second one driver process is asked for
DRIVER_RATE = 120.0


def blackbox_case(
    sim_urls: list[str], rate: float, seconds: float, drivers: int = 0
) -> dict[str, Any]:
    """blackbox_exporter's whole-process CPU per probe at ``rate`` probes a second, driven
    by ``drivers`` processes (0: one per :data:`DRIVER_RATE`), whose CPU is not counted."""
    binary = blackbox_binary()
    if binary is None:
        return {"error": "prometheus-blackbox-exporter is not installed"}
    with tempfile.TemporaryDirectory(prefix="provmon-scale-bb-") as folder:
        config = Path(folder) / "blackbox.yml"
        config.write_text(yaml.safe_dump(blackbox_config("sim-lumenfall-key")))
        port = free_port(HOST)
        exporter = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--web.listen-address={HOST}:{port}",
                "--log.level=error",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(port, proc=exporter)
            targets = [
                f"http://{HOST}:{port}/probe?"
                + urlencode(
                    {"target": f"{url}/openai/v1/models/imagen-4.0-generate-001", "module": MODULE}
                )
                for url in sim_urls
            ]
            # one Python driver process tops out far below 333 probes a second on these
            # cores (it reached 47/s): several, each at its share of the rate
            count = drivers or max(1, math.ceil(rate / DRIVER_RATE))
            procs = [
                subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        DRIVER,
                        ",".join(targets),
                        str(rate / count),
                        str(seconds),
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for _ in range(count)
            ]
            for driver in procs:
                assert driver.stdout is not None
                assert driver.stdout.readline().strip() == "go"
            cpu0, began = cpu_seconds_of(exporter.pid), time.monotonic()
            sent = ok = 0
            for driver in procs:
                assert driver.stdout is not None
                _, n, good = driver.stdout.readline().split()
                sent, ok = sent + int(n), ok + int(good)
            cpu, wall = cpu_seconds_of(exporter.pid) - cpu0, time.monotonic() - began
            for driver in procs:
                driver.wait(timeout=30)
        finally:
            stop_process(exporter)
    probes = sent
    return {
        "rate_per_second": round(rate, 1),
        "achieved_per_second": round(probes / wall, 1) if wall else None,
        "drivers": count,
        "seconds": round(wall, 1),
        "probes": probes,
        "ok": ok,
        "cpu_seconds": round(cpu, 2),
        "cpu_ms_per_probe": round(cpu * 1000 / probes, 4) if probes else None,
        "binary": binary,
    }


def _until(check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.25)
    return None


def takeover_case(sim_url: str, offerings: int, interval: float) -> dict[str, Any]:
    from monitor.store import Store

    url = postgres_server_url()
    if url is None:
        return {"error": "no PostgreSQL (set PROVMON_BENCH_DATABASE_URL)", "takeover_s": None}
    db_url = fresh_schema(url, "scale")
    store = Store(db_url)
    store.upgrade()  # once, before two agents race to migrate the same schema
    store.dispose()
    args = ["--db", db_url, "--sim", sim_url, "--offerings", str(offerings)]
    args += ["--interval", str(interval), "--events"]
    everything = {offering_key(i, 1) for i in range(offerings)}
    first = AgentProcess(args)
    second: AgentProcess | None = None
    found: dict[str, Any] = {"offerings": offerings, "interval_s": interval, "takeover_s": None}
    try:
        if not first.ready.wait(180) or not _until(
            lambda: first.probed(0) == everything, interval + 60
        ):
            return {**found, "error": "the first agent did not probe every offering"}
        second = AgentProcess(args)
        peer = second
        if not second.ready.wait(180):
            return {**found, "error": "the second agent did not start"}

        def split() -> tuple[set[str], set[str]] | None:
            since = time.time() - interval
            a, b = first.probed(since), peer.probed(since)
            return (a, b) if a and b and not a & b and a | b == everything else None

        began = time.monotonic()
        shares = _until(split, 5 * interval + 60)
        if shares is None:
            return {**found, "error": "the agents did not split the offerings"}
        found["split_after_s"] = round(time.monotonic() - began, 1)
        found["shares"] = [len(shares[0]), len(shares[1])]
        first.kill()
        killed = time.time()

        def taken() -> float | None:
            after = [e for e in list(peer.events) if e["t"] > killed and e["o"] in shares[0]]
            firsts: dict[str, float] = {}
            for e in after:
                firsts[e["o"]] = min(firsts.get(e["o"], math.inf), e["t"])
            return max(firsts.values()) - killed if set(firsts) == shares[0] else None

        took = _until(taken, 3 * interval + 90)
        found["takeover_s"] = round(took, 1) if took is not None else None
        slots = Counter((e["o"], math.floor(e["t"] / interval)) for e in first.events + peer.events)
        found["slots_probed_twice"] = sum(1 for n in slots.values() if n > 1)
        return found
    finally:
        first.kill()
        if second is not None:
            second.stop()
