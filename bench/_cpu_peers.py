"""What ``bench/agent_cpu.py`` runs beside the agents: the driver asking blackbox_exporter
for probes as Prometheus would, and the bare-httpx floor (the same requests, nothing else)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

import httpx

from bench._common import HOST
from bench.cpu import MODULE


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
#: alive as the agent's, on httpcore's own backend), no scheduler, store, health or
#: metrics; counts into a file
BARE = """
import asyncio, json, os, ssl, sys, time, httpx
urls, interval = json.load(open(sys.argv[1])), float(sys.argv[2])
key, out = sys.argv[3], sys.argv[4]
async def main():
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4, keepalive_expiry=30)
    # one TLS context for all, as the agent: a context each costs ms and ~0.7 MB
    tls = ssl.create_default_context()
    clients = [
        httpx.AsyncClient(limits=limits, timeout=30, trust_env=False, verify=tls) for _ in urls
    ]
    done = [0]
    async def one(i):
        try:
            await clients[i].get(urls[i], headers={"Authorization": f"Bearer {key}"})
        except httpx.HTTPError:
            pass
        done[0] += 1
    async def report():
        while True:
            open(out + ".new", "w").write(str(done[0]))
            os.replace(out + ".new", out)  # never seen half-written
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
