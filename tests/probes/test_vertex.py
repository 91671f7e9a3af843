"""The Vertex AI probe against the simulator over loopback, one test per outcome.

Also the pure parts of the Google family: ``classify`` and the answer parsers.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from monitor.config import Config, parse_config
from monitor.interfaces import Kind, Outcome, Phase, ProbeFailure, ProbeResult
from monitor.runner import Runner
from monitor.servers import free_port
from probes._google import classify, image_from_predictions, retry_delay
from tests.conftest import set_behaviour

OFFERING = "vertex/imagen-4.0-generate-001"
TARGET = "vertex:imagen-4.0-generate-001"


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
    """The config with the Vertex provider and OFFERING changed, validated again."""
    data = config.model_dump(mode="json")
    data["providers"]["vertex"].update(provider or {})
    data["providers"]["vertex"]["options"].update(options or {})
    data["offerings"][OFFERING]["params"].update(params or {})
    data["offerings"][OFFERING].update(offering or {})
    return parse_config(data)


async def test_a_generation_returns_a_checked_jpeg_with_ttfb_timed(sim_config: Config) -> None:
    result = await probe(sim_config)
    assert result.outcome == Outcome.OK, result.error
    assert result.image is not None
    assert (result.image.width, result.image.height) == (1024, 1024)
    assert result.image.mime == "image/jpeg"
    assert {Phase.TTFB, Phase.TOTAL} <= set(result.phases)
    assert Phase.DOWNLOAD not in result.phases  # the bytes come inline
    assert result.http_status == 200
    assert str(result.cost_usd) == "0.04"


async def test_the_v1beta1_surface_that_google_genai_uses_works_too(sim_config: Config) -> None:
    result = await probe(changed(sim_config, options={"api_version": "v1beta1"}))
    assert result.outcome == Outcome.OK, result.error


async def test_express_mode_sends_the_api_key_without_a_project(
    sim_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERTEX_API_KEY", "sim-vertex-api-key")
    cfg = changed(
        sim_config,
        provider={"credential_env": "VERTEX_API_KEY"},
        options={"auth": "api_key", "project": None},
    )
    result = await probe(cfg)
    assert result.outcome == Outcome.OK, result.error


async def test_gemini_image_models_go_through_generate_content(sim_config: Config) -> None:
    data = sim_config.model_dump(mode="json")
    data["models"]["gemini-2.5-flash-image"] = {"family": "gemini-image"}
    data["offerings"]["vertex/gemini-2.5-flash-image"] = {
        "provider_model": "gemini-2.5-flash-image",
        "params": {"aspectRatio": "1:1"},
        "expect": {"width": 1024, "height": 1024},
    }
    result = await probe(parse_config(data), offering="vertex/gemini-2.5-flash-image")
    assert result.outcome == Outcome.OK, result.error
    assert result.image is not None and result.image.mime == "image/png"


async def test_control_probe_gets_the_publisher_model_for_free(sim_config: Config) -> None:
    result = await probe(sim_config, Kind.CONTROL)
    assert result.outcome == Outcome.OK, result.error
    assert result.cost_usd == 0


@pytest.mark.parametrize(
    ("behaviour", "outcome", "status"),
    [
        ({"outage": "error"}, Outcome.SERVER_ERROR, 500),
        # Vertex answers 503 in the one-element array form
        ({"outage": "unavailable"}, Outcome.SERVER_ERROR, 503),
        ({"error_ratio": 1.0, "error_status": 502}, Outcome.SERVER_ERROR, 502),
        ({"rate_limit_ratio": 1.0}, Outcome.RATE_LIMITED, 429),
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


async def test_a_filtered_image_reports_the_rai_reason(sim_config: Config, sim_url: str) -> None:
    set_behaviour(sim_url, TARGET, safety_ratio=1.0)
    result = await probe(sim_config)
    assert result.outcome == Outcome.CONTENT_FILTERED
    assert "safety filter" in (result.error or "")


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
    assert 0.5 <= result.phases[Phase.TOTAL] < 1.5


async def test_an_unreachable_host_is_a_connect_error(sim_config: Config) -> None:
    cfg = changed(sim_config, provider={"base_url": f"http://127.0.0.1:{free_port()}/vertex"})
    result = await probe(cfg)
    assert result.outcome == Outcome.CONNECT_ERROR


async def test_a_wrong_token_is_an_auth_error_and_is_not_echoed(
    sim_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERTEX_ACCESS_TOKEN", "ya29.not-a-valid-token")
    result = await probe(sim_config)
    assert result.outcome == Outcome.AUTH_ERROR
    assert result.http_status == 401
    assert "ya29.not-a-valid-token" not in (result.error or "")


async def test_a_missing_token_is_an_auth_error(
    sim_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VERTEX_ACCESS_TOKEN")
    result = await probe(sim_config)
    assert result.outcome == Outcome.AUTH_ERROR
    assert result.http_status == 401


async def test_a_wrong_express_mode_key_is_an_auth_error(
    sim_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERTEX_API_KEY", "not-a-valid-key")
    cfg = changed(
        sim_config, provider={"credential_env": "VERTEX_API_KEY"}, options={"auth": "api_key"}
    )
    result = await probe(cfg)
    assert result.outcome == Outcome.AUTH_ERROR
    assert "not-a-valid-key" not in (result.error or "")


async def test_an_out_of_range_sample_count_is_a_bad_request(sim_config: Config) -> None:
    result = await probe(changed(sim_config, params={"sampleCount": 9}))
    assert result.outcome == Outcome.BAD_REQUEST
    assert result.http_status == 400
    assert "sampleCount" in (result.error or "")


async def test_an_image_of_another_size_is_invalid_output(sim_config: Config) -> None:
    result = await probe(changed(sim_config, params={"aspectRatio": "16:9"}))
    assert result.outcome == Outcome.INVALID_OUTPUT
    assert result.cost_usd > 0  # Google bills the image it delivered


async def test_a_retired_model_fails_the_control_probe_as_unavailable(
    sim_config: Config, sim_url: str
) -> None:
    set_behaviour(sim_url, TARGET, retired=True)
    result = await probe(sim_config, Kind.CONTROL)
    assert result.outcome == Outcome.MODEL_UNAVAILABLE
    assert result.http_status == 404


# -- service-account credentials through google-auth, refreshed over a real socket ----------


def service_account_file(folder: Path, token_uri: str) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path = folder / "service-account.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "sa-project",
                "private_key_id": "sim-key-1",
                "private_key": pem,
                "client_email": "provmon-probe@sa-project.iam.gserviceaccount.com",
                "client_id": "100000000000000000001",
                "token_uri": token_uri,
            }
        )
    )
    return path


def tokens_issued(sim_url: str) -> int:
    return int(httpx.get(f"{sim_url}/_sim/stats").json().get("vertex:token", 0))


async def test_service_account_tokens_are_fetched_once_and_refreshed_before_expiry(
    sim_config: Config, sim_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = service_account_file(tmp_path, f"{sim_url}/vertex/token")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    cfg = changed(
        sim_config,
        provider={"credential_env": "GOOGLE_APPLICATION_CREDENTIALS"},
        options={"auth": "oauth", "project": None},
    )  # the project comes from the key
    before = tokens_issued(sim_url)
    runner = Runner(cfg)
    try:
        first = await runner.run_probe(OFFERING, Kind.GENERATE)
        second = await runner.run_probe(OFFERING, Kind.CONTROL)
        assert (first.outcome, second.outcome) == (Outcome.OK, Outcome.OK), first.error
        assert tokens_issued(sim_url) == before + 1  # cached between probes
        # two minutes from expiry is inside google-auth's margin: the next probe refreshes
        credentials = runner._probes["vertex"]._credentials  # type: ignore[attr-defined]
        old_token = credentials.token
        credentials.expiry = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=2)
        third = await runner.run_probe(OFFERING, Kind.GENERATE)
        assert third.outcome == Outcome.OK, third.error
        assert tokens_issued(sim_url) == before + 2
        assert credentials.token != old_token
    finally:
        await runner.aclose()


async def test_a_missing_key_file_is_an_auth_error(
    sim_config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    cfg = changed(
        sim_config,
        provider={"credential_env": "GOOGLE_APPLICATION_CREDENTIALS"},
        options={"auth": "oauth"},
    )
    result = await probe(cfg)
    assert result.outcome == Outcome.AUTH_ERROR


# -- the pure parts -----------------------------------------------------------------------


def envelope(code: int, status: str, *details: dict[str, Any]) -> dict[str, Any]:
    return {"error": {"code": code, "message": "m", "status": status, "details": list(details)}}


KEY_INVALID = {
    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
    "reason": "API_KEY_INVALID",
    "domain": "googleapis.com",
}


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (401, envelope(401, "UNAUTHENTICATED"), Outcome.AUTH_ERROR),
        (403, envelope(403, "PERMISSION_DENIED"), Outcome.AUTH_ERROR),
        (400, envelope(400, "INVALID_ARGUMENT", KEY_INVALID), Outcome.AUTH_ERROR),
        (400, [envelope(400, "INVALID_ARGUMENT", KEY_INVALID)], Outcome.AUTH_ERROR),
        (400, envelope(400, "INVALID_ARGUMENT"), Outcome.BAD_REQUEST),
        (400, envelope(400, "FAILED_PRECONDITION"), Outcome.BAD_REQUEST),
        (404, envelope(404, "NOT_FOUND"), Outcome.MODEL_UNAVAILABLE),
        # a 404 outside Google's envelope is a wrong URL or a proxy, not a retired model
        (404, None, Outcome.PROTOCOL_ERROR),
        (404, "<html>Error 404 (Not Found)!!1</html>", Outcome.PROTOCOL_ERROR),
        (429, envelope(429, "RESOURCE_EXHAUSTED"), Outcome.RATE_LIMITED),
        (500, envelope(500, "INTERNAL"), Outcome.SERVER_ERROR),
        (503, [envelope(503, "UNAVAILABLE")], Outcome.SERVER_ERROR),
        (502, "<html>bad gateway</html>", Outcome.SERVER_ERROR),
        (504, envelope(504, "DEADLINE_EXCEEDED"), Outcome.SERVER_ERROR),
        (302, None, Outcome.PROTOCOL_ERROR),
    ],
)
def test_classify_reads_the_google_envelope(status: int, body: Any, outcome: Outcome) -> None:
    assert classify(status, body) == outcome


def test_retry_delay_reads_retry_info_in_either_form() -> None:
    info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}
    assert retry_delay(envelope(429, "RESOURCE_EXHAUSTED", info)) == 7.0
    assert retry_delay([envelope(429, "RESOURCE_EXHAUSTED", {**info, "retryDelay": "0.5s"})]) == 0.5
    assert retry_delay(envelope(429, "RESOURCE_EXHAUSTED")) is None


PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        ({}, Outcome.CONTENT_FILTERED),
        ({"predictions": []}, Outcome.CONTENT_FILTERED),
        ({"predictions": [{"raiFilteredReason": "filtered"}]}, Outcome.CONTENT_FILTERED),
        (
            {"predictions": [{"contentType": "Positive Prompt", "safetyAttributes": {}}]},
            Outcome.CONTENT_FILTERED,
        ),
        ({"predictions": [{"bytesBase64Encoded": "***"}]}, Outcome.INVALID_OUTPUT),
        ({"predictions": [{"mimeType": "image/png"}]}, Outcome.INVALID_OUTPUT),
        ({"predictions": [{"gcsUri": "gs://b/o.png"}]}, Outcome.BAD_REQUEST),
        ({"predictions": "nope"}, Outcome.PROTOCOL_ERROR),
        ([], Outcome.PROTOCOL_ERROR),
    ],
)
def test_predict_answers_without_an_image_are_classified(answer: Any, outcome: Outcome) -> None:
    with pytest.raises(ProbeFailure) as failure:
        image_from_predictions(answer)
    assert failure.value.outcome == outcome


def test_predict_answers_skip_the_prompt_safety_entry() -> None:
    answer = {
        "predictions": [
            {"contentType": "Positive Prompt"},
            {"bytesBase64Encoded": PNG, "mimeType": "image/png"},
        ]
    }
    assert image_from_predictions(answer).startswith(b"\x89PNG")
