"""Measurements are honest: what a probe reports is what the provider made it wait."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monitor.catalogs import load_catalog
from monitor.config import Config, point_at_simulator, simulator_credentials
from monitor.interfaces import Kind, Outcome, Phase
from monitor.runner import Runner
from tests.conftest import simulator_process

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
    with simulator_process(folder / "scenario.yaml") as url:
        yield url


#: probes measured; the median of this many is steady even with a few stalled among them
PROBES = 51
#: what the prober may add to bare httpx's median over the simulator's own time
SLACK = 0.002


async def test_measured_latency_is_the_simulators_own_time_within_a_few_ms(
    separate_sim: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ttfb against the delay the simulator actually spent on each request.

    The simulator stamps every answer with its own time (``x-sim-server-seconds``: the
    injected delay as it really happened, timer slack included); what the probe measures on
    top of that is the network and the prober. One probe at a time, as a measurement.

    Only what holds on a busy machine is asserted (issue 12, bug 9): no probe is faster
    than the simulator's own time, and the median of what the prober adds to it is within
    a few ms of what a bare httpx request of the same URL, sent right after it, adds (a
    loaded machine delays both alike; an absolute bound fails whenever another process
    takes the cores). The tails (p99 at 200 in flight, against the injected delay and the
    stamp) are ``bench/overhead.py``'s.
    """
    base = load_catalog("imagen4")
    for name, value in simulator_credentials(base).items():
        monkeypatch.setenv(name, value)
    config: Config = point_at_simulator(base, separate_sim)
    offering = "lumenfall/imagen-4.0-generate-001"
    spent: list[float] = []
    sent: list[httpx.Request] = []

    async def stamp(response: httpx.Response) -> None:
        spent.append(float(response.headers["x-sim-server-seconds"]))
        sent.append(response.request)

    runner = Runner(config)
    client = runner.client_for(offering)
    client.event_hooks["response"].append(stamp)
    prober: list[float] = []
    bare: list[float] = []
    try:
        async with httpx.AsyncClient() as peer:
            for _ in range(PROBES):
                result = await runner.run_probe(offering, Kind.CONTROL)
                assert result.outcome == Outcome.OK, result.error
                assert result.phases[Phase.TTFB] >= INJECTED, "never faster than the injection"
                prober.append(result.phases[Phase.TTFB] - spent[-1])
                request = sent[-1]
                again = peer.build_request(request.method, request.url, headers=request.headers)
                began = time.perf_counter()
                response = await peer.send(again, stream=True)
                elapsed = time.perf_counter() - began
                await response.aclose()
                bare.append(elapsed - float(response.headers["x-sim-server-seconds"]))
    finally:
        await runner.aclose()
    assert len(prober) == PROBES
    assert min(spent) >= INJECTED
    assert min(prober) >= 0, "a probe cannot be faster than the simulator's own time"
    shown = [round(e * 1000, 2) for e in sorted(prober)], [round(e * 1000, 2) for e in sorted(bare)]
    assert statistics.median(prober) <= statistics.median(bare) + SLACK, shown
