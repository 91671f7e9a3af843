"""`provmon demo` as a newcomer runs it: a real process, real sockets, nothing configured."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monitor.servers import free_port


def wait_for(predicate, timeout: float, interval: float = 0.5):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one series in a Prometheus text exposition (0 when absent)."""
    total = 0.0
    for line in metrics.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture()
def demo(tmp_path: Path) -> Iterator[tuple[str, str, subprocess.Popen[str]]]:
    port, sim_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "monitor.cli",
            "demo",
            "--for",
            "240",
            "--port",
            str(port),
            "--sim-port",
            str(sim_port),
            "--data-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _get(url + "/healthz"), 30, 0.2)
        yield url, f"http://127.0.0.1:{sim_port}", proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _get(url: str) -> str | None:
    try:
        response = httpx.get(url, timeout=5)
    except httpx.HTTPError:
        return None
    return response.text if response.status_code == 200 else None


def test_demo_probes_lumenfall_ok_within_30s_and_outages_become_failures(demo) -> None:  # type: ignore[no-untyped-def]
    url, sim, _ = demo
    started = time.monotonic()
    labels = {"offering": "lumenfall/imagen-4.0-generate-001", "outcome": "ok"}
    wait_for(
        lambda: (
            sample(_get(url + "/metrics") or "", "provmon_probes_total", kind="generate", **labels)
            >= 1
        ),
        30,
    )
    assert time.monotonic() - started < 30

    httpx.post(
        f"{sim}/_sim/behaviour",
        json={"target": "openai:imagen-4.0-generate-001", "outage": "error"},
    ).raise_for_status()
    failed = {"offering": "lumenfall/imagen-4.0-generate-001", "outcome": "server_error"}
    wait_for(
        lambda: (
            sample(_get(url + "/metrics") or "", "provmon_probes_total", kind="generate", **failed)
            >= 1
        ),
        30,
    )
    state = wait_for(
        lambda: [
            s
            for s in httpx.get(url + "/api/state").json()
            if s["offering"] == failed["offering"] and s["state"] == "down"
        ],
        60,
    )
    assert "server_error" in state[0]["reason"]

    probes = httpx.get(url + "/api/probes", params={"outcome": "server_error"}).json()
    assert probes and probes[0]["http_status"] == 500

    assert httpx.get(url + "/readyz").json() == {"ready": True}
    offerings = httpx.get(url + "/api/offerings").json()
    assert {o["offering"] for o in offerings} >= {"lumenfall/imagen-4.0-generate-001"}


def test_sigterm_stops_the_demo_cleanly_and_keeps_every_result(demo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, sim, proc = demo
    wait_for(
        lambda: sample(_get(url + "/metrics") or "", "provmon_probes_total", outcome="ok") >= 3, 30
    )
    # a provider that hangs: its probes are in flight when SIGTERM arrives
    httpx.post(f"{sim}/_sim/behaviour", json={"target": "openai:*", "outage": "hang"})
    time.sleep(6)
    counted = sample(_get(url + "/metrics") or "", "provmon_probes_total")
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=40)
    assert proc.returncode == 0, output
    assert "Traceback" not in output

    import sqlite3

    db = sqlite3.connect(tmp_path / "provmon.db")
    stored = db.execute("SELECT count(*) FROM probe_results WHERE cancelled = 0").fetchone()[0]
    cancelled = db.execute("SELECT count(*) FROM probe_results WHERE cancelled = 1").fetchone()[0]
    assert stored >= counted
    assert cancelled >= 1
    assert re.search(r"\d", str(stored))
