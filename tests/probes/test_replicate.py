"""The Replicate probe against the Replicate simulator over loopback, one test per outcome."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from monitor.config import Config
from monitor.interfaces import Kind, Outcome, Phase, ProbeResult
from monitor.runner import Runner
from monitor.servers import free_port
from probes.replicate import classify
from tests.conftest import set_behaviour

OFFERING = "replicate/imagen-4.0-generate-001"
MODEL = "google/imagen-4"
TARGET = f"replicate:{MODEL}"
FAST = {"ttfb": {"fixed": 0.0}, "queue": {"fixed": 0.2}, "inference": {"fixed": 0.3}}
TOKEN = {"Authorization": "Bearer sim-replicate-token"}


@pytest.fixture()
def cfg(sim_config: Config, sim_url: str) -> Config:
    """The catalog on the simulator with short predictions and a quick poll."""
    set_behaviour(sim_url, "replicate:*", latency=FAST)
    return with_options(sim_config, poll_interval_seconds=0.05)


def with_options(config: Config, **options: Any) -> Config:
    config = config.model_copy(deep=True)
    provider = config.providers["replicate"]
    config.providers["replicate"] = provider.model_copy(
        update={"options": {**provider.options, **options}}
    )
    return config


def with_offering(config: Config, **update: Any) -> Config:
    config = config.model_copy(deep=True)
    config.offerings[OFFERING] = config.offerings[OFFERING].model_copy(update=update)
    return config


async def probe(config: Config, kind: Kind = Kind.GENERATE) -> ProbeResult:
    runner = Runner(config)
    try:
        return await runner.run_probe(OFFERING, kind)
    finally:
        await runner.aclose()


async def test_a_held_prediction_reports_replicates_queue_and_predict_time(cfg: Config) -> None:
    result = await probe(cfg)
    assert result.outcome == Outcome.OK, result.error
    assert result.image is not None
    assert (result.image.width, result.image.height, result.image.mime) == (
        1024,
        1024,
        "image/jpeg",
    )
    # both phases come from the prediction: started_at - created_at, metrics.predict_time
    assert result.phases[Phase.QUEUE] == pytest.approx(0.2, abs=0.01)
    assert result.phases[Phase.INFERENCE] == pytest.approx(0.3)
    assert result.phases[Phase.TTFB] >= 0.5  # Prefer: wait held the create until done
    assert Phase.DOWNLOAD in result.phases
    assert str(result.cost_usd) == "0.04"


async def test_without_prefer_wait_the_prediction_is_polled(cfg: Config) -> None:
    result = await probe(with_options(cfg, prefer_wait=0))
    assert result.outcome == Outcome.OK, result.error
    assert result.phases[Phase.TTFB] < 0.2
    assert result.phases[Phase.QUEUE] == pytest.approx(0.2, abs=0.01)
    assert result.phases[Phase.INFERENCE] == pytest.approx(0.3)


async def test_a_deadline_while_processing_times_out_and_cancels_the_prediction(
    cfg: Config, sim_url: str
) -> None:
    set_behaviour(sim_url, TARGET, latency={"queue": {"fixed": 0.1}, "inference": {"fixed": 30.0}})
    result = await probe(with_offering(cfg, timeout_seconds=1.0))
    assert result.outcome == Outcome.TIMEOUT
    assert result.failed_phase == Phase.INFERENCE
    async with httpx.AsyncClient() as client:
        answer = await client.get(
            f"{sim_url}/replicate/v1/predictions/{result.provider_request_id}", headers=TOKEN
        )
    prediction = answer.json()
    assert prediction["status"] == "canceled"
    assert prediction["completed_at"] is not None


async def test_an_unreachable_api_is_a_connect_error(cfg: Config) -> None:
    result = await probe(with_options(cfg, api_url=f"http://127.0.0.1:{free_port()}/v1"))
    assert result.outcome == Outcome.CONNECT_ERROR


async def test_a_wrong_token_is_an_auth_error(cfg: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_not-a-valid-token")
    result = await probe(cfg)
    assert result.outcome == Outcome.AUTH_ERROR
    assert result.http_status == 401
    assert "r8_not-a-valid-token" not in (result.error or "")


async def test_an_invalid_input_is_a_bad_request(cfg: Config) -> None:
    result = await probe(with_offering(cfg, params={"output_format": "tiff"}))
    assert result.outcome == Outcome.BAD_REQUEST
    assert result.http_status == 422


async def test_an_image_of_the_wrong_size_is_invalid_output(cfg: Config) -> None:
    result = await probe(with_offering(cfg, params={"aspect_ratio": "16:9"}))
    assert result.outcome == Outcome.INVALID_OUTPUT
    assert "1408x768" in (result.error or "")


async def test_throttling_is_rate_limited_with_the_wait_from_the_detail(
    cfg: Config, sim_url: str
) -> None:
    set_behaviour(sim_url, TARGET, rate_limit_ratio=1.0, retry_after_s=7)
    result = await probe(cfg)
    assert result.outcome == Outcome.RATE_LIMITED
    assert result.retry_after_s == 7
    assert "~7s" in (result.error or "")


@pytest.mark.parametrize(
    ("behaviour", "outcome", "message"),
    [
        ({"error_ratio": 1.0}, Outcome.SERVER_ERROR, "prediction failed"),
        ({"outage": "unavailable"}, Outcome.SERVER_ERROR, "HTTP 503"),
        ({"error_ratio": 1.0, "error_status": 502}, Outcome.SERVER_ERROR, "HTTP 502"),
        ({"safety_ratio": 1.0}, Outcome.CONTENT_FILTERED, "sensitive"),
        ({"retired": True}, Outcome.MODEL_UNAVAILABLE, "HTTP 404"),
        ({"outage": "reset"}, Outcome.PROTOCOL_ERROR, ""),
    ],
)
async def test_simulated_failures_are_classified(
    cfg: Config, sim_url: str, behaviour: dict[str, Any], outcome: Outcome, message: str
) -> None:
    set_behaviour(sim_url, TARGET, **behaviour)
    result = await probe(cfg)
    assert result.outcome == outcome, result.error
    assert message in (result.error or "")
    assert result.cost_usd == 0


async def test_control_gets_the_model(cfg: Config) -> None:
    result = await probe(cfg, Kind.CONTROL)
    assert result.outcome == Outcome.OK, result.error


async def test_control_of_a_retired_model_is_model_unavailable(cfg: Config, sim_url: str) -> None:
    set_behaviour(sim_url, TARGET, retired=True)
    assert (await probe(cfg, Kind.CONTROL)).outcome == Outcome.MODEL_UNAVAILABLE


def test_the_simulated_prediction_moves_from_starting_to_succeeded(sim_url: str) -> None:
    set_behaviour(
        sim_url,
        TARGET,
        latency={"ttfb": {"fixed": 0.0}, "queue": {"fixed": 0.3}, "inference": {"fixed": 0.3}},
    )
    created = httpx.post(
        f"{sim_url}/replicate/v1/models/{MODEL}/predictions",
        json={"input": {"prompt": "a cube"}},
        headers=TOKEN,
    )
    assert created.status_code == 201
    prediction = created.json()
    assert prediction["urls"]["get"] == f"{sim_url}/replicate/v1/predictions/{prediction['id']}"
    seen = [prediction["status"]]
    for _ in range(200):
        prediction = httpx.get(prediction["urls"]["get"], headers=TOKEN).json()
        if prediction["status"] != seen[-1]:
            seen.append(prediction["status"])
        if prediction["status"] == "succeeded":
            break
    assert seen == ["starting", "processing", "succeeded"]
    assert prediction["output"].startswith(f"{sim_url}/files/")
    assert prediction["metrics"]["predict_time"] == pytest.approx(0.3)
    assert prediction["created_at"] < prediction["started_at"] < prediction["completed_at"]


def test_a_held_create_that_is_not_done_answers_starting(sim_url: str) -> None:
    set_behaviour(
        sim_url,
        TARGET,
        latency={"ttfb": {"fixed": 0.0}, "queue": {"fixed": 0.2}, "inference": {"fixed": 5.0}},
    )
    created = httpx.post(
        f"{sim_url}/replicate/v1/models/{MODEL}/predictions",
        json={"input": {"prompt": "a cube"}},
        headers={**TOKEN, "Prefer": "wait=1"},
        timeout=5,
    ).json()
    assert created["status"] == "starting"
    cancelled = httpx.post(created["urls"]["cancel"], headers=TOKEN).json()
    assert cancelled["status"] == "canceled"


def test_cancel_after_aborts_an_unfinished_prediction(sim_url: str) -> None:
    set_behaviour(
        sim_url,
        TARGET,
        latency={"ttfb": {"fixed": 0.0}, "queue": {"fixed": 0.0}, "inference": {"fixed": 5.0}},
    )
    created = httpx.post(
        f"{sim_url}/replicate/v1/models/{MODEL}/predictions",
        json={"input": {"prompt": "a cube"}},
        headers={**TOKEN, "Prefer": "wait=1", "Cancel-After": "500ms"},
        timeout=5,
    ).json()
    assert created["status"] == "aborted"


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (401, {"title": "Unauthenticated", "status": 401}, Outcome.AUTH_ERROR),
        (403, {"detail": "forbidden"}, Outcome.AUTH_ERROR),
        (404, {"title": "Not found", "status": 404}, Outcome.MODEL_UNAVAILABLE),
        (422, {"title": "Invalid version or not permitted"}, Outcome.BAD_REQUEST),
        (429, {"detail": "throttled, resets in ~3s"}, Outcome.RATE_LIMITED),
        (500, None, Outcome.SERVER_ERROR),
        (503, {"title": "Service Unavailable"}, Outcome.SERVER_ERROR),
        (200, {"status": "failed", "error": "NSFW content detected"}, Outcome.CONTENT_FILTERED),
        (200, {"status": "failed", "error": "Output was flagged"}, Outcome.CONTENT_FILTERED),
        (201, {"status": "failed", "error": "CUDA out of memory"}, Outcome.SERVER_ERROR),
        (200, {"status": "failed", "error": None}, Outcome.SERVER_ERROR),
        (200, {"status": "canceled"}, Outcome.SERVER_ERROR),
        (200, {"status": "aborted"}, Outcome.TIMEOUT),  # our Cancel-After deadline
        (402, {"title": "Billing required", "status": 402}, Outcome.AUTH_ERROR),
        (404, "<html>Not Found</html>", Outcome.PROTOCOL_ERROR),
        (200, {"status": "exploded"}, Outcome.PROTOCOL_ERROR),
    ],
)
def test_classify(status: int, body: Any, outcome: Outcome) -> None:
    # on the call that names the model (create, the model); job URLs are lost_job's
    assert classify(status, body, names_model=True) == outcome


def test_a_404_is_model_gone_only_on_the_call_that_names_it() -> None:
    body = {"title": "Not found", "status": 404}
    assert classify(404, body, names_model=True) == Outcome.MODEL_UNAVAILABLE
    assert classify(404, body) == Outcome.PROTOCOL_ERROR
