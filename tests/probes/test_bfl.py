"""The Black Forest Labs probe against its fake over loopback: submit, poll on a regional host,
download; every outcome the fake gives, and where the key may go."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from monitor.config import Config, parse_config
from monitor.interfaces import Kind, Outcome, Phase, ProbeResult
from monitor.probe_context import ProbeContext
from monitor.runner import Runner
from probes.bfl import BflOptions, BflProbe
from tests.conftest import set_behaviour

OFFERING = "bfl/flux-2-pro"
TARGET = "bfl:flux-2-pro"


def with_bfl(
    config: Config,
    sim_url: str,
    monkeypatch: pytest.MonkeyPatch,
    *,
    model: str = "flux-2-pro",
    params: dict[str, Any] | None = None,
    timeout: float = 10,
) -> Config:
    monkeypatch.setenv("BFL_API_KEY", "sim-bfl-key")
    data = config.model_dump(mode="json")
    data["providers"]["bfl"] = {
        "protocol": "bfl",
        "base_url": f"{sim_url}/bfl",
        "credential_env": "BFL_API_KEY",
        "options": {"poll_interval_seconds": 0.05},
    }
    data["models"][model] = {"family": "flux-2"}
    data["offerings"][f"bfl/{model}"] = {
        "provider_model": model,
        "params": params or {"width": 1024, "height": 1024, "output_format": "jpeg"},
        "expect": {"width": 1024, "height": 1024},
        "listed_price_usd": "0.03",
        "timeout_seconds": timeout,
    }
    return parse_config(data)


async def probe(
    config: Config, kind: Kind = Kind.GENERATE, offering: str = OFFERING
) -> ProbeResult:
    runner = Runner(config)
    try:
        return await runner.run_probe(offering, kind)
    finally:
        await runner.aclose()


async def test_an_image_is_polled_on_the_regional_host_and_downloaded(
    sim_config: Config, sim_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the fake's polling URL is on /bfl-eu and demands the key there: an OK proves both
    set_behaviour(sim_url, TARGET, latency={"queue": {"fixed": 0.2}, "inference": {"fixed": 0.2}})
    result = await probe(with_bfl(sim_config, sim_url, monkeypatch))
    assert result.outcome == Outcome.OK, result.error
    assert result.image is not None and result.image.mime == "image/jpeg"
    assert {Phase.QUEUE, Phase.INFERENCE, Phase.DOWNLOAD} <= set(result.phases)
    assert result.phases[Phase.QUEUE] >= 0.1 and result.phases[Phase.INFERENCE] >= 0.1
    assert result.provider_request_id
    assert result.usage is not None
    # 1024x1024 is 1.05 MP: 3.15 credits at FLUX.2 [pro]'s $0.03 per megapixel
    assert (result.usage.megapixels, result.usage.reported_cost_usd) == (
        Decimal("1.05"),
        Decimal("0.0315"),
    )
    assert result.measured_cost_usd == Decimal("0.0315")


async def test_the_control_probe_reads_the_credits(
    sim_config: Config, sim_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = with_bfl(sim_config, sim_url, monkeypatch)
    assert (await probe(cfg, Kind.CONTROL)).outcome == Outcome.OK
    set_behaviour(sim_url, TARGET, variant="credits")
    spent = await probe(cfg, Kind.CONTROL)
    assert spent.outcome == Outcome.AUTH_ERROR and "credits" in (spent.error or "")
    generate = await probe(cfg)
    assert (generate.outcome, generate.http_status) == (Outcome.AUTH_ERROR, 402)
    monkeypatch.setenv("BFL_API_KEY", "bfl_wrong")
    denied = await probe(cfg, Kind.CONTROL)
    assert (denied.outcome, denied.http_status) == (Outcome.AUTH_ERROR, 401)
    assert "bfl_wrong" not in (denied.error or "")


@pytest.mark.parametrize(
    ("behaviour", "outcome", "said"),
    [
        ({"safety_ratio": 1.0}, Outcome.CONTENT_FILTERED, "Content Moderated (Derivative"),
        ({"variant": "request_moderated"}, Outcome.CONTENT_FILTERED, "Request Moderated"),
        ({"variant": "failed"}, Outcome.SERVER_ERROR, "Failed"),
        ({"error_ratio": 1.0}, Outcome.SERVER_ERROR, "Error"),
    ],
)
async def test_terminal_job_statuses_are_classified(
    sim_config: Config,
    sim_url: str,
    monkeypatch: pytest.MonkeyPatch,
    behaviour: dict[str, Any],
    outcome: Outcome,
    said: str,
) -> None:
    set_behaviour(sim_url, TARGET, **behaviour)
    result = await probe(with_bfl(sim_config, sim_url, monkeypatch))
    assert result.outcome == outcome, result.error
    assert said in (result.error or "")
    assert Phase.DOWNLOAD not in result.phases


@pytest.mark.parametrize(
    ("behaviour", "outcome", "status"),
    [
        ({"rate_limit_ratio": 1.0, "retry_after_s": 3}, Outcome.RATE_LIMITED, 429),
        ({"outage": "error"}, Outcome.SERVER_ERROR, 500),
        ({"outage": "unavailable"}, Outcome.SERVER_ERROR, 503),
        ({"retired": True}, Outcome.MODEL_UNAVAILABLE, 404),
        ({"outage": "reset"}, Outcome.PROTOCOL_ERROR, 200),
    ],
)
async def test_submit_failures_are_classified(
    sim_config: Config,
    sim_url: str,
    monkeypatch: pytest.MonkeyPatch,
    behaviour: dict[str, Any],
    outcome: Outcome,
    status: int,
) -> None:
    set_behaviour(sim_url, TARGET, **behaviour)
    result = await probe(with_bfl(sim_config, sim_url, monkeypatch))
    assert (result.outcome, result.http_status) == (outcome, status), result.error
    assert result.usage is None
    if outcome == Outcome.RATE_LIMITED:
        assert result.retry_after_s == 3.0


async def test_bad_parameters_and_unknown_endpoints(
    sim_config: Config, sim_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    odd = with_bfl(sim_config, sim_url, monkeypatch, params={"width": 1000, "height": 1024})
    result = await probe(odd)
    assert (result.outcome, result.http_status) == (Outcome.BAD_REQUEST, 422)
    assert "multiple of 16" in (result.error or "")
    gone = with_bfl(sim_config, sim_url, monkeypatch, model="flux-9-imaginary")
    result = await probe(gone, offering="bfl/flux-9-imaginary")
    assert (result.outcome, result.http_status) == (Outcome.MODEL_UNAVAILABLE, 404)


async def test_a_job_stuck_in_the_queue_times_out_in_the_queue_phase(
    sim_config: Config, sim_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_behaviour(sim_url, TARGET, latency={"queue": {"fixed": 30}})
    result = await probe(with_bfl(sim_config, sim_url, monkeypatch, timeout=1))
    assert (result.outcome, result.failed_phase) == (Outcome.TIMEOUT, Phase.QUEUE)


async def test_a_hung_submit_times_out_before_the_first_byte(
    sim_config: Config, sim_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_behaviour(sim_url, TARGET, outage="hang")
    result = await probe(with_bfl(sim_config, sim_url, monkeypatch, timeout=0.5))
    assert (result.outcome, result.failed_phase) == (Outcome.TIMEOUT, Phase.TTFB)


def _ctx(base_url: str, options: BaseModel) -> ProbeContext:
    return ProbeContext(
        offering="bfl/flux-2-pro",
        provider="bfl",
        model="flux-2-pro",
        provider_model="flux-2-pro",
        kind=Kind.GENERATE,
        base_url=base_url,
        options=options,
        params={},
        prompt="p",
        expect_width=1024,
        expect_height=1024,
        client=httpx.AsyncClient(),
        deadline=0.0,
        secret="bfl_secret",
    )


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        ("https://api.bfl.ai/v1/get_result?id=1", True),
        ("https://api.eu.bfl.ai/v1/get_result?id=1", True),
        ("https://gateway.bfl.ai/v1/get_result?id=1", True),
        ("http://127.0.0.1:8080/bfl-eu/v1/get_result?id=1", True),  # the base URL's origin
        ("http://127.0.0.1:9999/bfl-eu/v1/get_result?id=1", False),
        ("https://bfl.ai.example.com/v1/get_result?id=1", False),
        ("https://evilbfl.ai/v1/get_result?id=1", False),
        ("ftp://api.bfl.ai/x", False),
    ],
)
async def test_the_key_goes_only_to_bfl_hosts_or_the_base_urls_origin(url: str, sent: bool) -> None:
    ctx = _ctx("http://127.0.0.1:8080/bfl", BflOptions())
    try:
        assert ("x-key" in BflProbe()._headers(ctx, url)) is sent
    finally:
        await ctx.client.aclose()
