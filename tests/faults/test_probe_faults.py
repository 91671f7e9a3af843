"""The fault matrix for a provider: each hostile answer gets the right outcome, quickly."""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Iterator

import pytest

from monitor.config import Config, parse_config
from monitor.interfaces import Kind, Outcome, Phase
from monitor.runner import Runner
from monitor.servers import free_port
from tests.faults.hostile import HostileServer

OFFERING = "hostile/m1"


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    server = HostileServer().start()
    yield server
    server.stop()


def config_for(base_url: str, *, timeout: float = 2.0, max_body: int = 4 * 1024 * 1024) -> Config:
    return parse_config(
        {
            "defaults": {"timeout_seconds": timeout, "limits": {"max_body_bytes": max_body}},
            "models": {"m1": {}},
            "providers": {
                "hostile": {
                    "protocol": "lumenfall",
                    "base_url": base_url,
                    "credential_required": False,
                }
            },
            "offerings": {
                OFFERING: {
                    "provider_model": "m1",
                    "params": {"response_format": "b64_json"},
                    "expect": {"width": 1024, "height": 1024},
                }
            },
        }
    )


async def run(config: Config, kind: Kind = Kind.GENERATE):  # type: ignore[no-untyped-def]
    runner = Runner(config)
    try:
        return await runner.run_probe(OFFERING, kind)
    finally:
        await runner.aclose()


CASES = [
    # case, expected outcome, failed phase (for timeouts)
    ("hang", Outcome.TIMEOUT, Phase.TTFB),
    ("trickle", Outcome.TIMEOUT, None),
    ("reset", Outcome.PROTOCOL_ERROR, None),
    ("storm", Outcome.SERVER_ERROR, None),
    ("throttle", Outcome.RATE_LIMITED, None),
    ("malformed", Outcome.PROTOCOL_ERROR, None),
    ("html", Outcome.PROTOCOL_ERROR, None),
    ("bomb", Outcome.PROTOCOL_ERROR, None),
    ("oversized", Outcome.PROTOCOL_ERROR, None),
    ("redirect", Outcome.PROTOCOL_ERROR, None),
    ("garbage", Outcome.PROTOCOL_ERROR, None),
    ("empty", Outcome.PROTOCOL_ERROR, None),
    ("wrong_size", Outcome.INVALID_OUTPUT, None),
    ("undecodable", Outcome.INVALID_OUTPUT, None),
    ("pixel_bomb", Outcome.INVALID_OUTPUT, None),
    ("no_images", Outcome.CONTENT_FILTERED, None),
]


@pytest.mark.parametrize(("case", "outcome", "phase"), CASES, ids=[c[0] for c in CASES])
async def test_a_hostile_answer_is_classified(
    hostile: HostileServer, case: str, outcome: Outcome, phase: Phase | None
) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = await run(config_for(f"{hostile.url}/{case}/v1"))
    assert result.outcome == outcome, result.error
    assert result.phases[Phase.TOTAL] < 3.0, "the deadline bounds every probe"
    if phase is not None:
        assert result.failed_phase == phase
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 200, f"memory grew by {grown_mib:.0f} MiB"
    assert result.cost_usd == 0 or outcome == Outcome.INVALID_OUTPUT


async def test_a_429_keeps_its_retry_after(hostile: HostileServer) -> None:
    result = await run(config_for(f"{hostile.url}/throttle/v1"))
    assert result.retry_after_s == 42


async def test_a_refused_connection_is_a_connect_error() -> None:
    result = await run(config_for(f"http://127.0.0.1:{free_port()}/v1"))
    assert result.outcome == Outcome.CONNECT_ERROR


async def test_tls_to_a_server_that_does_not_speak_it_is_a_connect_error(
    hostile: HostileServer,
) -> None:
    result = await run(config_for(f"https://127.0.0.1:{hostile.port}/garbage/v1"))
    assert result.outcome == Outcome.CONNECT_ERROR, result.error


async def test_an_unresolvable_host_is_a_connect_error() -> None:
    result = await run(config_for("http://provider.invalid/v1", timeout=10))
    assert result.outcome in (Outcome.CONNECT_ERROR, Outcome.TIMEOUT), result.error
    if result.outcome == Outcome.TIMEOUT:  # a resolver that never answers
        assert result.failed_phase == Phase.TTFB


async def test_many_hostile_probes_at_once_stay_bounded(hostile: HostileServer) -> None:
    configs = [config_for(f"{hostile.url}/{case}/v1") for case, _, _ in CASES]
    results = await asyncio.wait_for(asyncio.gather(*(run(c) for c in configs)), timeout=10)
    assert [r.outcome for r in results] == [outcome for _, outcome, _ in CASES]
