"""Measurements are honest: what a probe reports is what the provider made it wait."""

from __future__ import annotations

import asyncio
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

INJECTED = 0.100
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


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.99 + 0.5) - 1)]


async def test_measured_latency_equals_injected_latency_within_5ms_at_p99(
    separate_sim: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = load_config(None)
    for name, value in simulator_credentials(base).items():
        monkeypatch.setenv(name, value)
    config: Config = point_at_simulator(base, separate_sim)
    runner = Runner(config)
    offering = "lumenfall/imagen-4.0-generate-001"
    errors: list[float] = []
    try:
        # two offerings probed side by side, as the scheduler would run them; concurrency
        # against one single-process simulator would measure its queue, not our clock
        for _ in range(50):
            batch = await asyncio.gather(
                runner.run_probe(offering, Kind.CONTROL),
                runner.run_probe("lumenfall/imagen-4.0-fast-generate-001", Kind.CONTROL),
            )
            for result in batch:
                assert result.outcome == Outcome.OK, result.error
                errors.append(result.phases[Phase.TTFB] - INJECTED)
    finally:
        await runner.aclose()
    assert len(errors) == 100
    assert min(errors) >= 0, "a probe cannot be faster than the injected delay"
    assert p99(errors) <= 0.005, sorted(round(e * 1000, 2) for e in errors)
