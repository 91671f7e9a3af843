"""The OpenRouter image API probe against its fake over loopback: every outcome the fake gives."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from monitor.config import Config, parse_config
from monitor.interfaces import Kind, Outcome, Phase, ProbeResult
from monitor.runner import Runner
from monitor.servers import free_port
from probes.openrouter import classify
from tests.conftest import set_behaviour

OFFERING = "openrouter/gemini-nano-banana-2.1"
SLUG = "google/gemini-nano-banana-2.1"
TARGET = f"openrouter:{SLUG}"


def with_openrouter(
    config: Config,
    sim_url: str,
    monkeypatch: pytest.MonkeyPatch,
    *,
    slug: str = SLUG,
    base_url: str | None = None,
    params: dict[str, Any] | None = None,
) -> Config:
    monkeypatch.setenv("OPENROUTER_API_KEY", "sim-openrouter-key")
    data = config.model_dump(mode="json")
    data["providers"]["openrouter"] = {
        "protocol": "openrouter",
        "base_url": base_url or f"{sim_url}/openrouter/api/v1",
        "credential_env": "OPENROUTER_API_KEY",
        "options": {"app_title": "provmon"},
    }
    data["models"]["gemini-nano-banana-2.1"] = {"family": "gemini-image"}
    data["offerings"][OFFERING] = {
        "provider_model": slug,
        "params": params if params is not None else {"aspect_ratio": "1:1"},
        "expect": {"width": 1024, "height": 1024},
        "listed_price_usd": "0.0336",
        "timeout_seconds": 5,
    }
    return parse_config(data)


async def probe(config: Config, kind: Kind = Kind.GENERATE) -> ProbeResult:
    runner = Runner(config)
    try:
        return await runner.run_probe(OFFERING, kind)
    finally:
        await runner.aclose()


async def test_an_image_comes_back_with_the_cost_openrouter_reports(
    sim_config: Config, sim_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = await probe(with_openrouter(sim_config, sim_url, monkeypatch))
    assert result.outcome == Outcome.OK, result.error
    assert result.image is not None and (result.image.width, result.image.height) == (1024, 1024)
    assert Phase.DOWNLOAD not in result.phases  # always base64
    assert result.usage is not None
    assert result.usage.reported_cost_usd == Decimal("0.0336")
    assert result.usage.output_image_tokens == 1120
    assert result.measured_cost_usd == Decimal("0.0336")  # the reported cost wins


async def test_the_control_probe_checks_the_key_and_the_model_list(
    sim_config: Config, sim_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = with_openrouter(sim_config, sim_url, monkeypatch)
    result = await probe(cfg, Kind.CONTROL)
    assert result.outcome == Outcome.OK, result.error
    set_behaviour(sim_url, TARGET, retired=True)
    gone = await probe(cfg, Kind.CONTROL)
    assert gone.outcome == Outcome.MODEL_UNAVAILABLE
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-wrong")
    denied = await probe(cfg, Kind.CONTROL)
    assert (denied.outcome, denied.http_status) == (Outcome.AUTH_ERROR, 401)


@pytest.mark.parametrize(
    ("behaviour", "outcome", "status"),
    [
        ({"safety_ratio": 1.0}, Outcome.CONTENT_FILTERED, 403),
        ({"rate_limit_ratio": 1.0, "retry_after_s": 4}, Outcome.RATE_LIMITED, 429),
        ({"outage": "error"}, Outcome.SERVER_ERROR, 502),
        ({"outage": "unavailable"}, Outcome.SERVER_ERROR, 503),
        ({"retired": True}, Outcome.MODEL_UNAVAILABLE, 400),
        ({"variant": "credits"}, Outcome.AUTH_ERROR, 402),
        ({"outage": "reset"}, Outcome.PROTOCOL_ERROR, 200),
    ],
)
async def test_simulated_failures_are_classified(
    sim_config: Config,
    sim_url: str,
    monkeypatch: pytest.MonkeyPatch,
    behaviour: dict[str, Any],
    outcome: Outcome,
    status: int,
) -> None:
    set_behaviour(sim_url, TARGET, **behaviour)
    result = await probe(with_openrouter(sim_config, sim_url, monkeypatch))
    assert (result.outcome, result.http_status) == (outcome, status), result.error
    assert result.usage is None and result.cost_usd == 0


async def test_a_moderation_flag_says_why_and_a_rate_limit_when_to_retry(
    sim_config: Config, sim_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = with_openrouter(sim_config, sim_url, monkeypatch)
    set_behaviour(sim_url, TARGET, safety_ratio=1.0)
    assert "sexual" in ((await probe(cfg)).error or "")
    set_behaviour(sim_url, TARGET, safety_ratio=0.0, rate_limit_ratio=1.0, retry_after_s=4)
    assert (await probe(cfg)).retry_after_s == 4.0


async def test_spent_credits_fail_the_control_probe_as_ours(
    sim_config: Config, sim_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_behaviour(sim_url, TARGET, variant="credits")
    result = await probe(with_openrouter(sim_config, sim_url, monkeypatch), Kind.CONTROL)
    assert result.outcome == Outcome.AUTH_ERROR
    assert "credit" in (result.error or "")


async def test_bad_requests_timeouts_and_unreachable_hosts(
    sim_config: Config, sim_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = with_openrouter(sim_config, sim_url, monkeypatch, params={"aspect_ratio": "7:3"})
    result = await probe(bad)
    assert (result.outcome, result.http_status) == (Outcome.BAD_REQUEST, 400)
    unknown = with_openrouter(sim_config, sim_url, monkeypatch, slug="acme/no-such-model")
    assert (await probe(unknown)).outcome == Outcome.MODEL_UNAVAILABLE
    set_behaviour(sim_url, TARGET, outage="hang")
    cfg = with_openrouter(sim_config, sim_url, monkeypatch)
    data = cfg.model_dump(mode="json")
    data["offerings"][OFFERING]["timeout_seconds"] = 0.5
    hung = await probe(parse_config(data))
    assert (hung.outcome, hung.failed_phase) == (Outcome.TIMEOUT, Phase.TTFB)
    away = f"http://127.0.0.1:{free_port()}/openrouter/api/v1"
    gone = with_openrouter(sim_config, sim_url, monkeypatch, base_url=away)
    assert (await probe(gone)).outcome == Outcome.CONNECT_ERROR


def test_the_fake_answers_in_openrouters_shape(sim_url: str) -> None:
    answer = httpx.post(
        f"{sim_url}/openrouter/api/v1/images",
        json={"model": SLUG, "prompt": "a cube", "aspect_ratio": "16:9"},
        headers={"Authorization": "Bearer sim-openrouter-key"},
    )
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"created", "data", "usage"}
    assert body["data"][0]["media_type"] == "image/png"
    assert {"prompt_tokens", "completion_tokens", "total_tokens", "cost"} <= set(body["usage"])


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (402, {"error": {"code": 402, "message": "Insufficient credits"}}, Outcome.AUTH_ERROR),
        (
            400,
            {"error": {"code": 400, "message": "x is not a valid model ID"}},
            Outcome.MODEL_UNAVAILABLE,
        ),
        (400, {"error": {"code": 400, "message": "bad size"}}, Outcome.BAD_REQUEST),
        (408, None, Outcome.TIMEOUT),
        (200, {"error": {"code": 502, "message": "Provider returned error"}}, Outcome.SERVER_ERROR),
    ],
)
def test_classify(status: int, body: Any, outcome: Outcome) -> None:
    assert classify(status, body) == outcome
