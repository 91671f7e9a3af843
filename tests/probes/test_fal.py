"""The fal probe against the fal simulator over loopback, one test per outcome."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from monitor.config import Config
from monitor.interfaces import Kind, Outcome, Phase, ProbeResult
from monitor.runner import Runner
from monitor.servers import free_port
from probes.fal import classify
from tests.conftest import set_behaviour

OFFERING = "fal/imagen-4.0-generate-001"
ENDPOINT = "fal-ai/imagen4/preview"
TARGET = f"fal:{ENDPOINT}"
FAST = {"ttfb": {"fixed": 0.0}, "queue": {"fixed": 0.2}, "inference": {"fixed": 0.3}}
KEY = {"Authorization": "Key sim-fal-key"}


@pytest.fixture()
def cfg(sim_config: Config, sim_url: str) -> Config:
    """The catalog on the simulator with short jobs and a quick poll."""
    set_behaviour(sim_url, "fal:*", latency=FAST)
    return with_options(sim_config, poll_interval_seconds=0.05)


def with_options(config: Config, **options: Any) -> Config:
    config = config.model_copy(deep=True)
    provider = config.providers["fal"]
    config.providers["fal"] = provider.model_copy(
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


async def test_a_queued_generation_reports_queue_inference_and_download(cfg: Config) -> None:
    result = await probe(cfg)
    assert result.outcome == Outcome.OK, result.error
    assert result.image is not None
    assert (result.image.width, result.image.height) == (1024, 1024)
    assert {Phase.TTFB, Phase.QUEUE, Phase.INFERENCE, Phase.DOWNLOAD} <= set(result.phases)
    # queue is measured (0.2 s in the simulator, plus at most a poll); inference is fal's own
    assert 0.2 <= result.phases[Phase.QUEUE] < 0.45
    assert result.phases[Phase.INFERENCE] == pytest.approx(0.3)
    assert result.provider_request_id
    assert str(result.cost_usd) == "0.04"


async def test_sync_mode_returns_the_image_without_a_queue(cfg: Config) -> None:
    result = await probe(with_options(cfg, mode="sync"))
    assert result.outcome == Outcome.OK, result.error
    assert Phase.QUEUE not in result.phases
    assert result.phases[Phase.TTFB] >= 0.5  # the sync call holds for queue and inference


async def test_a_deadline_in_the_queue_times_out_and_cancels_the_request(
    cfg: Config, sim_url: str
) -> None:
    set_behaviour(sim_url, TARGET, latency={"queue": {"fixed": 30.0}})
    result = await probe(with_offering(cfg, timeout_seconds=1.0))
    assert result.outcome == Outcome.TIMEOUT
    assert result.failed_phase == Phase.QUEUE
    assert result.cost_usd == 0
    async with httpx.AsyncClient() as client:
        answer = await client.get(
            f"{sim_url}/fal/queue/fal-ai/imagen4/requests/{result.provider_request_id}/status",
            headers=KEY,
        )
    status = answer.json()
    assert status["status"] == "COMPLETED"
    assert status["error_type"] == "request_cancelled"


async def test_an_unreachable_queue_is_a_connect_error(cfg: Config) -> None:
    result = await probe(with_options(cfg, queue_url=f"http://127.0.0.1:{free_port()}"))
    assert result.outcome == Outcome.CONNECT_ERROR


async def test_a_wrong_key_is_an_auth_error(cfg: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAL_KEY", "not-a-valid-key")
    result = await probe(cfg)
    assert result.outcome == Outcome.AUTH_ERROR
    assert result.http_status == 401
    assert "not-a-valid-key" not in (result.error or "")


async def test_an_invalid_parameter_is_a_bad_request(cfg: Config) -> None:
    result = await probe(with_offering(cfg, params={"aspect_ratio": "7:5"}))
    assert result.outcome == Outcome.BAD_REQUEST
    assert result.http_status == 422


async def test_an_image_of_the_wrong_size_is_invalid_output(cfg: Config) -> None:
    result = await probe(with_offering(cfg, params={"aspect_ratio": "1:1", "resolution": "2K"}))
    assert result.outcome == Outcome.INVALID_OUTPUT
    assert "2048x2048" in (result.error or "")


@pytest.mark.parametrize(
    ("behaviour", "outcome", "status"),
    [
        ({"error_ratio": 1.0}, Outcome.SERVER_ERROR, 500),
        ({"outage": "unavailable"}, Outcome.SERVER_ERROR, 503),
        ({"error_ratio": 1.0, "error_status": 504}, Outcome.SERVER_ERROR, 504),
        ({"safety_ratio": 1.0}, Outcome.CONTENT_FILTERED, 422),
        ({"retired": True}, Outcome.MODEL_UNAVAILABLE, 404),
        ({"outage": "reset"}, Outcome.PROTOCOL_ERROR, 200),
    ],
)
async def test_simulated_failures_are_classified(
    cfg: Config, sim_url: str, behaviour: dict[str, Any], outcome: Outcome, status: int
) -> None:
    set_behaviour(sim_url, TARGET, **behaviour)
    result = await probe(cfg)
    assert result.outcome == outcome, result.error
    assert result.http_status == status
    assert result.cost_usd == 0


async def test_control_reads_the_model_and_proves_the_key(cfg: Config) -> None:
    result = await probe(cfg, Kind.CONTROL)
    assert result.outcome == Outcome.OK, result.error
    assert result.cost_usd == 0


async def test_control_without_a_key_only_reads_the_public_model_list(
    cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAL_KEY")
    assert (await probe(cfg, Kind.CONTROL)).outcome == Outcome.OK


async def test_control_with_a_wrong_key_is_an_auth_error(
    cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAL_KEY", "not-a-valid-key")
    assert (await probe(cfg, Kind.CONTROL)).outcome == Outcome.AUTH_ERROR


async def test_control_of_a_deprecated_model_is_model_unavailable(
    cfg: Config, sim_url: str
) -> None:
    set_behaviour(sim_url, TARGET, retired=True)
    result = await probe(cfg, Kind.CONTROL)
    assert result.outcome == Outcome.MODEL_UNAVAILABLE
    assert "deprecated" in (result.error or "")


def test_the_simulated_queue_moves_from_in_queue_to_completed(sim_url: str) -> None:
    set_behaviour(
        sim_url,
        TARGET,
        latency={"ttfb": {"fixed": 0.0}, "queue": {"fixed": 0.3}, "inference": {"fixed": 0.3}},
        queue_depth=4,
    )
    submitted = httpx.post(
        f"{sim_url}/fal/queue/{ENDPOINT}", json={"prompt": "a cube"}, headers=KEY
    ).json()
    assert submitted["status_url"].startswith(f"{sim_url}/fal/queue/fal-ai/imagen4/requests/")
    assert submitted["queue_position"] == 4
    seen: list[tuple[int, str]] = []
    for _ in range(200):
        answer = httpx.get(submitted["status_url"], params={"logs": "1"}, headers=KEY)
        body = answer.json()
        assert "queue_position" in body and "logs" in body
        if not seen or seen[-1] != (answer.status_code, body["status"]):
            seen.append((answer.status_code, body["status"]))
        if body["status"] == "COMPLETED":
            break
    assert seen == [(202, "IN_QUEUE"), (202, "IN_PROGRESS"), (200, "COMPLETED")]
    assert body["metrics"]["inference_time"] == pytest.approx(0.3)
    result = httpx.get(submitted["response_url"], headers=KEY).json()
    assert result["images"][0]["url"].startswith(f"{sim_url}/files/")
    cancel = httpx.put(submitted["cancel_url"], headers=KEY)
    assert (cancel.status_code, cancel.json()["status"]) == (400, "ALREADY_COMPLETED")


def test_the_simulated_pricing_api_needs_a_key(sim_url: str) -> None:
    query = {"endpoint_id": f"{ENDPOINT},{ENDPOINT}/fast"}
    assert httpx.get(f"{sim_url}/fal/api/v1/models/pricing", params=query).status_code == 401
    prices = httpx.get(f"{sim_url}/fal/api/v1/models/pricing", params=query, headers=KEY).json()
    assert {p["endpoint_id"]: p["unit_price"] for p in prices["prices"]} == {
        ENDPOINT: 0.04,
        f"{ENDPOINT}/fast": 0.02,
    }


@pytest.mark.parametrize(
    ("status", "body", "header", "outcome"),
    [
        (401, {"detail": "Unauthorized"}, None, Outcome.AUTH_ERROR),
        (403, {"detail": "Forbidden"}, None, Outcome.AUTH_ERROR),
        (404, {"detail": "Application not found"}, None, Outcome.MODEL_UNAVAILABLE),
        (429, {"detail": "too many concurrent requests"}, None, Outcome.RATE_LIMITED),
        (
            422,
            {
                "detail": [
                    {"loc": ["body", "prompt"], "msg": "x", "type": "content_policy_violation"}
                ]
            },
            None,
            Outcome.CONTENT_FILTERED,
        ),
        (
            422,
            {"detail": [{"loc": ["body", "num_images"], "msg": "x", "type": "less_than"}]},
            None,
            Outcome.BAD_REQUEST,
        ),
        (400, {"detail": "bad"}, None, Outcome.BAD_REQUEST),
        (
            504,
            {"detail": "Request timed out", "error_type": "request_timeout"},
            None,
            Outcome.SERVER_ERROR,
        ),
        (504, None, "startup_timeout", Outcome.SERVER_ERROR),
        (
            503,
            {"detail": "x", "error_type": "runner_scheduling_failure"},
            None,
            Outcome.SERVER_ERROR,
        ),
        (502, "<html>nginx</html>", None, Outcome.SERVER_ERROR),
        (
            200,
            {"status": "COMPLETED", "error": "x", "error_type": "runner_disconnected"},
            None,
            Outcome.SERVER_ERROR,
        ),
        (
            200,
            {"status": "COMPLETED", "error_type": "content_policy_violation"},
            None,
            Outcome.CONTENT_FILTERED,
        ),
        (302, None, None, Outcome.PROTOCOL_ERROR),
        (402, {"detail": "payment required"}, None, Outcome.AUTH_ERROR),
        # fal's own 4xx request errors are the request's fault, not fal's outage
        (400, {"detail": "bad timeout", "error_type": "bad_request"}, None, Outcome.BAD_REQUEST),
        (499, {"detail": "x"}, "client_cancelled", Outcome.BAD_REQUEST),
        (200, {"status": "COMPLETED", "error_type": "bad_request"}, None, Outcome.BAD_REQUEST),
        (200, {"status": "COMPLETED", "error_type": "who_knows"}, None, Outcome.SERVER_ERROR),
        (404, "<html>404 Not Found nginx</html>", None, Outcome.PROTOCOL_ERROR),
    ],
)
def test_classify(status: int, body: Any, header: str | None, outcome: Outcome) -> None:
    # on the call that names the model (submit, control); job URLs are lost_job's
    assert classify(status, body, header, names_model=True) == outcome


def test_a_404_is_model_gone_only_on_the_call_that_names_it() -> None:
    body = {"detail": "Application 'fal-ai/imagen4/preview' not found"}
    assert classify(404, body, names_model=True) == Outcome.MODEL_UNAVAILABLE
    assert classify(404, body) == Outcome.PROTOCOL_ERROR


def test_a_504_after_our_start_deadline_is_a_timeout() -> None:
    body = {"detail": "Request timed out", "error_type": "request_timeout"}
    assert classify(504, body, "request_timeout", timeout_type="user") == Outcome.TIMEOUT
    assert classify(504, body, "request_timeout") == Outcome.SERVER_ERROR
