"""Measurements are honest: what a probe reports is what the provider made it wait."""

from __future__ import annotations

import gc
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monitor.config import Config, load_config, point_at_simulator, simulator_credentials
from monitor.interfaces import Kind, Outcome, Phase
from monitor.runner import Runner
from monitor.servers import free_port

INJECTED = 0.050
SCENARIO = f"""
targets:
  "openai:*":
    latency:
      ttfb: {{fixed: {INJECTED}}}
      inference: {{fixed: 0.0}}
"""


@pytest.fixture(scope="module")
def separate_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The simulator in its own process, as a real provider would be."""
    folder: Path = tmp_path_factory.mktemp("sim")
    (folder / "scenario.yaml").write_text(SCENARIO)
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "monitor.cli",
            "simulate",
            "--port",
            str(port),
            "--scenario",
            str(folder / "scenario.yaml"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * q + 0.5) - 1)]


async def test_measured_latency_equals_the_simulators_own_time_within_5ms(
    separate_sim: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ttfb against the delay the simulator actually spent on each request.

    The simulator stamps every answer with its own time (``x-sim-server-seconds``: the
    injected delay as it really happened, timer slack included); what the probe measures on
    top of that is the network and the prober. One probe at a time, as a measurement.

    This VM pauses a process for 5-15 ms every few seconds (bare httpx shows the same, see
    bench/results/overhead.json), so the 5 ms bound is asserted at p95 and the tail is
    bounded apart; on quiet runs p99 is within 5 ms as well.
    """
    base = load_config(None)
    for name, value in simulator_credentials(base).items():
        monkeypatch.setenv(name, value)
    config: Config = point_at_simulator(base, separate_sim)
    offering = "lumenfall/imagen-4.0-generate-001"
    spent: list[float] = []

    async def stamp(response: httpx.Response) -> None:
        spent.append(float(response.headers["x-sim-server-seconds"]))

    # a full collection of a long pytest session's heap pauses for milliseconds; the
    # service freezes its start-up heap the same way (Service.start)
    gc.collect()
    gc.freeze()
    runner = Runner(config)
    client = runner.client_for(offering)
    client.event_hooks["response"].append(stamp)
    errors: list[float] = []
    try:
        for _ in range(200):
            result = await runner.run_probe(offering, Kind.CONTROL)
            assert result.outcome == Outcome.OK, result.error
            assert result.phases[Phase.TTFB] >= INJECTED, "never faster than the injection"
            errors.append(result.phases[Phase.TTFB] - spent[-1])
    finally:
        await runner.aclose()
        gc.unfreeze()
    assert len(errors) == 200
    assert min(spent) >= INJECTED
    assert min(errors) >= 0, "a probe cannot be faster than the simulator's own time"
    shown = sorted(round(e * 1000, 2) for e in errors)
    assert quantile(errors, 0.50) <= 0.003, shown
    assert quantile(errors, 0.95) <= 0.005, shown
    assert quantile(errors, 0.99) <= 0.020, shown
