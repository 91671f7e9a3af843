"""The OpenAI Images probe for GPT Image models and other OpenAI-shape providers, against the
simulator over loopback: token usage, b64 vs url answers, the ``auth_header`` option."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from monitor.config import Config, parse_config
from monitor.interfaces import Kind, Outcome, Phase, ProbeResult, Usage
from monitor.runner import Runner
from probes._openai_images import request_body, usage_of
from tests.conftest import set_behaviour

GPT = "openai/gpt-image-2"


def with_openai(
    config: Config,
    sim_url: str,
    monkeypatch: pytest.MonkeyPatch,
    *,
    model: str = "gpt-image-2",
    options: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
) -> Config:
    """The simulator config plus an ``openai`` provider (its fake key in OPENAI_API_KEY)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sim-openai-key")
    data = config.model_dump(mode="json")
    data["providers"]["openai"] = {
        "protocol": "openai",
        "base_url": f"{sim_url}/openai/v1",
        "credential_env": "OPENAI_API_KEY",
        "options": options or {},
    }
    data["models"][model] = {"family": "gpt-image"}
    data["offerings"][f"openai/{model}"] = {
        "provider_model": model,
        "params": params if params is not None else {"size": "1024x1024", "quality": "low"},
        "expect": {"width": 1024, "height": 1024},
        "listed_price_usd": "0.006",
    }
    return parse_config(data)


async def probe(config: Config, offering: str = GPT, kind: Kind = Kind.GENERATE) -> ProbeResult:
    runner = Runner(config)
    try:
        return await runner.run_probe(offering, kind)
    finally:
        await runner.aclose()


async def test_a_gpt_image_answer_is_b64_with_its_token_usage(
    sim_config: Config, sim_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = await probe(with_openai(sim_config, sim_url, monkeypatch))
    assert result.outcome == Outcome.OK, result.error
    assert Phase.DOWNLOAD not in result.phases  # b64_json: nothing to download
    assert result.usage is not None
    # ~200 output tokens for a low-quality 1024x1024 gpt-image-2 image ($0.006 at $30/M)
    assert result.usage.output_image_tokens == 200
    assert result.usage.output_text_tokens is None
    assert result.usage.input_tokens and result.usage.input_tokens > 0
    assert result.provider_request_id and result.provider_request_id.startswith("req_")


async def test_the_tokens_follow_the_quality_asked_for(
    sim_config: Config, sim_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    medium = {"size": "1024x1024", "quality": "medium"}
    cfg = with_openai(sim_config, sim_url, monkeypatch, params=medium)
    result = await probe(cfg)
    assert result.outcome == Outcome.OK, result.error
    assert result.usage is not None and result.usage.output_image_tokens == 1770


async def test_the_key_goes_in_an_api_key_header_when_asked(
    sim_config: Config, sim_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = with_openai(sim_config, sim_url, monkeypatch, options={"auth_header": "api-key"})
    assert (await probe(cfg)).outcome == Outcome.OK
    control = await probe(cfg, kind=Kind.CONTROL)
    assert control.outcome == Outcome.OK, control.error
    monkeypatch.setenv("OPENAI_API_KEY", "not-a-key")
    denied = await probe(cfg)
    assert (denied.outcome, denied.http_status) == (Outcome.AUTH_ERROR, 401)
    assert "not-a-key" not in (denied.error or "")


async def test_a_provider_answering_urls_without_usage_still_works(
    sim_config: Config, sim_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = with_openai(sim_config, sim_url, monkeypatch, model="recraftv4_1", params={})
    result = await probe(cfg, "openai/recraftv4_1")
    assert result.outcome == Outcome.OK, result.error
    assert Phase.DOWNLOAD in result.phases
    assert result.usage is None and result.measured_cost_usd is None


async def test_a_retired_gpt_image_model_is_unavailable(
    sim_config: Config, sim_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = with_openai(sim_config, sim_url, monkeypatch, model="gpt-image-1")
    result = await probe(cfg, "openai/gpt-image-1")
    assert (result.outcome, result.http_status) == (Outcome.MODEL_UNAVAILABLE, 404)
    control = await probe(cfg, "openai/gpt-image-1", Kind.CONTROL)
    assert control.outcome == Outcome.MODEL_UNAVAILABLE


@pytest.mark.parametrize(
    ("behaviour", "outcome"),
    [
        ({"safety_ratio": 1.0}, Outcome.CONTENT_FILTERED),
        ({"rate_limit_ratio": 1.0}, Outcome.RATE_LIMITED),
        ({"outage": "error"}, Outcome.SERVER_ERROR),
    ],
)
async def test_gpt_image_failures_report_no_usage(
    sim_config: Config,
    sim_url: str,
    monkeypatch: pytest.MonkeyPatch,
    behaviour: dict[str, Any],
    outcome: Outcome,
) -> None:
    set_behaviour(sim_url, "openai:gpt-image-2", **behaviour)
    result = await probe(with_openai(sim_config, sim_url, monkeypatch))
    assert result.outcome == outcome
    assert result.usage is None and result.measured_cost_usd is None


def test_usage_reads_tokens_a_breakdown_or_a_reported_cost() -> None:
    tokens = {
        "usage": {
            "input_tokens": 50,
            "input_tokens_details": {"image_tokens": 40, "text_tokens": 10},
            "output_tokens": 1056,
            "total_tokens": 1106,
        }
    }
    assert usage_of(tokens, images=1) == Usage(
        input_tokens=10, input_image_tokens=40, output_image_tokens=1056
    )
    split = {"usage": {"output_tokens": 300, "output_tokens_details": {"image_tokens": 200}}}
    assert usage_of(split, images=1) == Usage(output_image_tokens=200)
    cost = {"usage": {"cost": 0.0336, "output_tokens": 1120}}
    assert usage_of(cost, images=1) == Usage(
        output_image_tokens=1120, reported_cost_usd=Decimal("0.0336")
    )
    for junk in ({"usage": {"cost": "NaN"}}, {"usage": {"cost": -1}}, {"usage": []}, {}):
        assert usage_of(junk, images=1) is None


@pytest.mark.parametrize(
    ("provider", "model", "key"),
    [
        ("xai", "grok-imagine-image", "sim-xai-key"),
        ("recraft", "recraftv4_1", "sim-recraft-key"),
        ("byteplus", "seedream-5-0-flash-260915", "sim-byteplus-key"),
    ],
)
async def test_other_openai_shape_providers_share_the_fake_with_keys_of_their_own(
    sim_config: Config,
    sim_url: str,
    monkeypatch: pytest.MonkeyPatch,
    provider: str,
    model: str,
    key: str,
) -> None:
    env = f"{provider.upper()}_API_KEY"
    monkeypatch.setenv(env, key)
    data = sim_config.model_dump(mode="json")
    data["providers"][provider] = {
        "protocol": "openai",
        "base_url": f"{sim_url}/openai/v1",
        "credential_env": env,
    }
    data["models"][model] = {"family": provider}
    data["offerings"][f"{provider}/{model}"] = {
        "provider_model": model,
        "params": {"aspect_ratio": "1:1"},  # sent as given: these take no size
        "expect": {"width": 1024, "height": 1024},
    }
    result = await probe(parse_config(data), f"{provider}/{model}")
    assert result.outcome == Outcome.OK, result.error


def test_the_body_sends_params_as_given_over_the_defaults() -> None:
    defaults = {"n": 1, "size": "1024x1024", "quality": "low"}
    body = request_body(defaults, "gpt-image-2", "p", {"quality": "medium"})
    assert body == {
        "n": 1,
        "size": "1024x1024",
        "quality": "medium",
        "model": "gpt-image-2",
        "prompt": "p",
    }
    grok = request_body(
        defaults, "grok-imagine-image", "p", {"aspect_ratio": "1:1", "quality": None}
    )
    assert grok == {"n": 1, "model": "grok-imagine-image", "prompt": "p", "aspect_ratio": "1:1"}
