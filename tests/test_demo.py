"""`provmon demo` as a newcomer runs it: a real process, real sockets, nothing configured."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import httpx

from tests.conftest import _get, sample, wait_for


def test_demo_probes_lumenfall_ok_within_30s_and_outages_become_failures(demo) -> None:  # type: ignore[no-untyped-def]
    url, sim, _ = demo
    started = time.monotonic()
    labels = {"offering": "lumenfall/gemini-3-pro-image", "outcome": "ok"}
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
        json={"target": "openai:gemini-3-pro-image", "outage": "error"},
    ).raise_for_status()
    failed = {"offering": "lumenfall/gemini-3-pro-image", "outcome": "server_error"}
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
    assert {o["offering"] for o in offerings} >= {"lumenfall/gemini-3-pro-image"}


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
    # the hung probes in flight at SIGTERM were stored as well: those whose deadline came
    # within the grace period as timeouts, any still hanging after it as cancelled
    assert stored + cancelled > counted
    assert re.search(r"\d", str(stored))
