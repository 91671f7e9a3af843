"""The fal and Replicate fakes produce the real answers of the corpus from scenario
behaviours (``account``, ``lost_job``, ``output``, load, start deadlines), so the demo, the
flows and the detection tests see them; each checked through the real probe over a socket.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from monitor.config import Config
from monitor.interfaces import Kind, Outcome, Phase, ProbeResult
from monitor.runner import Runner
from tests.conftest import set_behaviour

FAL = "fal/imagen-4.0-generate-001"
REPLICATE = "replicate/imagen-4.0-generate-001"
FAL_TARGET = "fal:fal-ai/imagen4/preview"
REPLICATE_TARGET = "replicate:google/imagen-4"
FAST = {"ttfb": {"fixed": 0.0}, "queue": {"fixed": 0.1}, "inference": {"fixed": 0.1}}


@pytest.fixture()
def cfg(sim_config: Config, sim_url: str) -> Config:
    set_behaviour(sim_url, "*", latency=FAST)
    return sim_config


def changed(
    config: Config, offering: str, *, timeout: float | None = None, **options: Any
) -> Config:
    config = config.model_copy(deep=True)
    provider_name = config.provider_of(offering)
    provider = config.providers[provider_name]
    config.providers[provider_name] = provider.model_copy(
        update={"options": {**provider.options, **options}}
    )
    if timeout is not None:
        entry = config.offerings[offering]
        config.offerings[offering] = entry.model_copy(update={"timeout_seconds": timeout})
    return config


async def probe(config: Config, offering: str, kind: Kind = Kind.GENERATE) -> ProbeResult:
    runner = Runner(config)
    try:
        return await runner.run_probe(offering, kind)
    finally:
        await runner.aclose()


@pytest.mark.parametrize(("offering", "target"), [(FAL, FAL_TARGET), (REPLICATE, REPLICATE_TARGET)])
async def test_an_exhausted_account_is_an_account_problem_and_control_still_answers(
    cfg: Config, sim_url: str, offering: str, target: str
) -> None:
    set_behaviour(sim_url, target, account="exhausted")
    result = await probe(cfg, offering)
    assert result.outcome == Outcome.AUTH_ERROR
    assert "account problem (billing)" in (result.error or "")
    assert result.cost_usd == 0
    assert (await probe(cfg, offering, Kind.CONTROL)).outcome == Outcome.OK


async def test_a_lost_fal_job_is_a_protocol_error(cfg: Config, sim_url: str) -> None:
    set_behaviour(sim_url, FAL_TARGET, lost_job=True)
    result = await probe(cfg, FAL)
    assert result.outcome == Outcome.PROTOCOL_ERROR
    assert "job lost" in (result.error or "")


async def test_a_lost_replicate_prediction_is_a_protocol_error(cfg: Config, sim_url: str) -> None:
    set_behaviour(sim_url, REPLICATE_TARGET, lost_job=True, latency={"queue": {"fixed": 3.0}})
    result = await probe(changed(cfg, REPLICATE, prefer_wait=1), REPLICATE)
    assert result.outcome == Outcome.PROTOCOL_ERROR
    assert "job lost" in (result.error or "")


@pytest.mark.parametrize(("offering", "target"), [(FAL, FAL_TARGET), (REPLICATE, REPLICATE_TARGET)])
async def test_inline_outputs_are_decoded_without_a_download(
    cfg: Config, sim_url: str, offering: str, target: str
) -> None:
    set_behaviour(sim_url, target, output="data_uri")
    result = await probe(cfg, offering)
    assert result.outcome == Outcome.OK, result.error
    assert result.phases[Phase.DOWNLOAD] == 0.0
    assert result.cost_usd > 0


def test_replicates_held_answer_carries_its_inline_output_while_processing(
    sim_url: str,
) -> None:
    set_behaviour(sim_url, REPLICATE_TARGET, output="data_uri", latency=FAST)
    created = httpx.post(
        f"{sim_url}/replicate/v1/models/google/imagen-4/predictions",
        json={"input": {"prompt": "a cat"}},
        headers={"Authorization": "Bearer sim-replicate-token", "Prefer": "wait=5"},
        timeout=10,
    ).json()
    assert created["status"] == "processing"
    assert created["output"].startswith("data:image/jpeg;base64,")
    again = httpx.get(
        created["urls"]["get"], headers={"Authorization": "Bearer sim-replicate-token"}
    )
    assert again.json()["status"] == "succeeded"


async def test_fals_queue_holds_requests_over_the_concurrency_limit(
    cfg: Config, sim_url: str
) -> None:
    set_behaviour(sim_url, FAL_TARGET, rate_limit_ratio=1.0, retry_after_s=1)
    result = await probe(cfg, FAL)
    assert result.outcome == Outcome.OK, result.error
    assert result.phases[Phase.QUEUE] >= 1.0  # held, not refused
    sync = await probe(changed(cfg, FAL, mode="sync"), FAL)
    assert (sync.outcome, sync.http_status) == (Outcome.RATE_LIMITED, 429)


async def test_a_fal_request_not_started_by_its_start_deadline_is_a_timeout(
    cfg: Config, sim_url: str
) -> None:
    # the probe sends X-Fal-Request-Timeout: 3 (4 s left); fal ends the request at 3 s
    set_behaviour(sim_url, FAL_TARGET, latency={"queue": {"fixed": 30.0}})
    result = await probe(changed(cfg, FAL, timeout=4.0), FAL)
    assert result.outcome == Outcome.TIMEOUT
    assert "start deadline" in (result.error or "")
    assert result.phases[Phase.TOTAL] < 4.0  # fal's answer, not our own deadline
    assert result.cost_usd == 0
