"""The Gemini API probe against the simulator over loopback, one test per outcome."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from monitor.config import Config, parse_config
from monitor.interfaces import Kind, Outcome, Phase, ProbeResult
from monitor.runner import Runner
from monitor.servers import free_port
from tests.conftest import set_behaviour

OFFERING = "gemini/imagen-4.0-fast-generate-001"
TARGET = "gemini:imagen-4.0-fast-generate-001"
NANO = "gemini/gemini-2.5-flash-image"


async def probe(
    config: Config, kind: Kind = Kind.GENERATE, offering: str = OFFERING
) -> ProbeResult:
    runner = Runner(config)
    try:
        return await runner.run_probe(offering, kind)
    finally:
        await runner.aclose()


def changed(
    config: Config,
    *,
    provider: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    offering: dict[str, Any] | None = None,
) -> Config:
    data = config.model_dump(mode="json")
    data["providers"]["gemini"].update(provider or {})
    data["providers"]["gemini"]["options"].update(options or {})
    data["offerings"][OFFERING]["params"].update(params or {})
    data["offerings"][OFFERING].update(offering or {})
    return parse_config(data)


def with_gemini_image_model(config: Config, image_config: dict[str, Any]) -> Config:
    """The config plus an offering of a Gemini image model (``:generateContent``)."""
    data = config.model_dump(mode="json")
    data["models"]["gemini-2.5-flash-image"] = {"family": "gemini-image"}
    data["offerings"][NANO] = {
        "provider_model": "gemini-2.5-flash-image",
        "params": image_config,
        "expect": {"width": 1024, "height": 1024},
        "listed_price_usd": "0.039",
    }
    return parse_config(data)


async def test_a_generation_returns_a_checked_jpeg(sim_config: Config) -> None:
    result = await probe(sim_config)
    assert result.outcome == Outcome.OK, result.error
    assert result.image is not None
    assert (result.image.width, result.image.height) == (1024, 1024)
    assert result.image.mime == "image/jpeg"
    assert Phase.TTFB in result.phases
    assert str(result.cost_usd) == "0.02"


async def test_control_probe_gets_the_model_for_free(sim_config: Config) -> None:
    result = await probe(sim_config, Kind.CONTROL)
    assert result.outcome == Outcome.OK, result.error
    assert result.cost_usd == 0


async def test_gemini_image_models_go_through_generate_content(sim_config: Config) -> None:
    cfg = with_gemini_image_model(sim_config, {"aspectRatio": "1:1"})
    result = await probe(cfg, offering=NANO)
    assert result.outcome == Outcome.OK, result.error
    assert result.image is not None and result.image.mime == "image/png"
    assert result.provider_request_id  # generateContent answers carry a responseId
    control = await probe(cfg, Kind.CONTROL, offering=NANO)
    assert control.outcome == Outcome.OK, control.error


async def test_a_blocked_generate_content_image_is_content_filtered(
    sim_config: Config, sim_url: str
) -> None:
    set_behaviour(sim_url, "gemini:gemini-2.5-flash-image", safety_ratio=1.0)
    cfg = with_gemini_image_model(sim_config, {"aspectRatio": "1:1"})
    result = await probe(cfg, offering=NANO)
    assert result.outcome == Outcome.CONTENT_FILTERED
    assert "IMAGE_SAFETY" in (result.error or "")


async def test_an_imagen_model_forced_onto_generate_content_is_unavailable(
    sim_config: Config,
) -> None:
    result = await probe(changed(sim_config, options={"method": "generateContent"}))
    assert result.outcome == Outcome.MODEL_UNAVAILABLE


@pytest.mark.parametrize(
    ("behaviour", "outcome", "status"),
    [
        ({"outage": "error"}, Outcome.SERVER_ERROR, 500),
        ({"outage": "unavailable"}, Outcome.SERVER_ERROR, 503),
        ({"safety_ratio": 1.0}, Outcome.CONTENT_FILTERED, 200),
        ({"retired": True}, Outcome.MODEL_UNAVAILABLE, 404),
        ({"outage": "reset"}, Outcome.PROTOCOL_ERROR, 200),
    ],
)
async def test_simulated_failures_are_classified(
    sim_config: Config,
    sim_url: str,
    behaviour: dict[str, object],
    outcome: Outcome,
    status: int,
) -> None:
    set_behaviour(sim_url, TARGET, **behaviour)
    result = await probe(sim_config)
    assert result.outcome == outcome, result.error
    assert result.http_status == status
    assert result.cost_usd == 0


async def test_a_quota_error_carries_the_retry_info_delay(sim_config: Config, sim_url: str) -> None:
    set_behaviour(sim_url, TARGET, rate_limit_ratio=1.0, retry_after_s=7)
    result = await probe(sim_config)
    assert result.outcome == Outcome.RATE_LIMITED
    assert result.http_status == 429
    assert result.retry_after_s == 7.0


async def test_a_200_with_zero_images_is_content_filtered(sim_config: Config, sim_url: str) -> None:
    set_behaviour(sim_url, TARGET, safety_ratio=1.0)
    result = await probe(changed(sim_config, params={"includeRaiReason": False}))
    assert result.outcome == Outcome.CONTENT_FILTERED
    assert "zero images" in (result.error or "")


async def test_a_hung_provider_times_out_in_the_ttfb_phase(
    sim_config: Config, sim_url: str
) -> None:
    set_behaviour(sim_url, TARGET, outage="hang")
    result = await probe(changed(sim_config, offering={"timeout_seconds": 0.5}))
    assert result.outcome == Outcome.TIMEOUT
    assert result.failed_phase == Phase.TTFB


async def test_an_unreachable_host_is_a_connect_error(sim_config: Config) -> None:
    cfg = changed(sim_config, provider={"base_url": f"http://127.0.0.1:{free_port()}/gemini"})
    result = await probe(cfg)
    assert result.outcome == Outcome.CONNECT_ERROR


async def test_a_bad_key_answers_400_but_is_an_auth_error(
    sim_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-not-a-valid-key")
    result = await probe(sim_config)
    assert result.outcome == Outcome.AUTH_ERROR
    assert result.http_status == 400
    assert "AIza-not-a-valid-key" not in (result.error or "")


async def test_a_missing_key_is_an_auth_error(
    sim_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GEMINI_API_KEY")
    result = await probe(sim_config, Kind.CONTROL)
    assert result.outcome == Outcome.AUTH_ERROR
    assert result.http_status == 403


@pytest.mark.parametrize(
    "params",
    [
        {"seed": 1},
        {"negativePrompt": "blur"},
        {"enhancePrompt": False},
        {"addWatermark": False},
        {"personGeneration": "ALLOW_ALL"},
        {"sampleCount": 0},
    ],
)
async def test_vertex_only_or_invalid_parameters_are_a_bad_request(
    sim_config: Config, params: dict[str, Any]
) -> None:
    result = await probe(changed(sim_config, params=params))
    assert result.outcome == Outcome.BAD_REQUEST, result.error
    assert result.http_status == 400


async def test_an_image_of_another_size_is_invalid_output(sim_config: Config) -> None:
    result = await probe(changed(sim_config, params={"sampleImageSize": "2K"}))
    assert result.outcome == Outcome.INVALID_OUTPUT


async def test_a_retired_model_fails_the_control_probe_as_unavailable(
    sim_config: Config, sim_url: str
) -> None:
    set_behaviour(sim_url, TARGET, retired=True)
    result = await probe(sim_config, Kind.CONTROL)
    assert result.outcome == Outcome.MODEL_UNAVAILABLE
    assert result.http_status == 404


def test_the_fake_accepts_the_key_as_a_query_parameter_and_lists_models(sim_url: str) -> None:
    listed = httpx.get(f"{sim_url}/gemini/v1beta/models", params={"key": "sim-gemini-key"})
    assert listed.status_code == 200
    names = {m["name"] for m in listed.json()["models"]}
    assert "models/imagen-4.0-generate-001" in names
    answer = httpx.get(
        f"{sim_url}/gemini/v1beta/models/imagen-4.0-generate-001", params={"key": "sim-gemini-key"}
    )
    assert answer.json()["supportedGenerationMethods"] == ["predict"]
