"""The official fal and Replicate SDKs work against the simulators, only the host changed.

fal-client has no base URL parameter and hard-codes ``https://``; its URL formats are read
at call time, so the test patches them (provider-apis.md section 8). replicate 1.x takes
``base_url`` without ``/v1`` and adds it to every path itself.
"""

from __future__ import annotations

import io

import fal_client
import fal_client.client
import httpx
import pytest
from PIL import Image
from replicate.client import Client as ReplicateClient
from replicate.exceptions import ModelError

from tests.conftest import set_behaviour

FAST = {"ttfb": {"fixed": 0.0}, "queue": {"fixed": 0.2}, "inference": {"fixed": 0.3}}
FAL_ARGS = {"prompt": "a red cube", "aspect_ratio": "1:1", "num_images": 1, "resolution": "1K"}
REPLICATE_INPUT = {
    "prompt": "a red cube",
    "aspect_ratio": "1:1",
    "output_format": "jpg",
    "safety_filter_level": "block_only_high",
}


def image_size(url: str) -> tuple[int, int]:
    response = httpx.get(url)
    response.raise_for_status()
    with Image.open(io.BytesIO(response.content)) as image:
        return image.size


@pytest.fixture()
def fal(sim_url: str, monkeypatch: pytest.MonkeyPatch) -> fal_client.SyncClient:
    set_behaviour(sim_url, "fal:*", latency=FAST, queue_depth=2)
    monkeypatch.setattr(fal_client.client, "QUEUE_URL_FORMAT", f"{sim_url}/fal/queue/")
    monkeypatch.setattr(fal_client.client, "RUN_URL_FORMAT", f"{sim_url}/fal/run/")
    return fal_client.SyncClient(key="sim-fal-key", default_timeout=10)


@pytest.fixture()
def rep(sim_url: str) -> ReplicateClient:
    set_behaviour(sim_url, "replicate:*", latency=FAST)
    return ReplicateClient(api_token="sim-replicate-token", base_url=f"{sim_url}/replicate")


def test_fal_client_subscribe_follows_the_queue_to_a_result(fal: fal_client.SyncClient) -> None:
    updates: list[object] = []
    result = fal.subscribe(
        "fal-ai/imagen4/preview",
        arguments=FAL_ARGS,
        with_logs=True,
        interval=0.05,
        on_queue_update=updates.append,
    )
    kinds = [type(u) for u in updates]
    assert kinds[0] is fal_client.Queued
    assert fal_client.InProgress in kinds
    assert kinds[-1] is fal_client.Completed
    assert updates[-1].metrics["inference_time"] == pytest.approx(0.3)  # type: ignore[attr-defined]
    assert image_size(result["images"][0]["url"]) == (1024, 1024)


def test_fal_client_run_uses_the_sync_endpoint(fal: fal_client.SyncClient) -> None:
    result = fal.run("fal-ai/imagen4/preview/fast", arguments=FAL_ARGS)
    assert result["images"][0]["content_type"] == "image/png"


def test_fal_client_cancel_stops_a_queued_request(fal: fal_client.SyncClient, sim_url: str) -> None:
    set_behaviour(sim_url, "fal:*", latency={"queue": {"fixed": 30.0}})
    handle = fal.submit("fal-ai/imagen4/preview/ultra", arguments=FAL_ARGS)
    assert isinstance(handle.status(), fal_client.Queued)
    handle.cancel()
    status = handle.status()
    assert isinstance(status, fal_client.Completed)
    assert status.error_type == "request_cancelled"


def test_fal_client_sees_a_content_policy_violation(
    fal: fal_client.SyncClient, sim_url: str
) -> None:
    set_behaviour(sim_url, "fal:*", safety_ratio=1.0)
    with pytest.raises(fal_client.client.FalClientHTTPError) as caught:
        fal.subscribe("fal-ai/imagen4/preview", arguments=FAL_ARGS, interval=0.05)
    assert caught.value.status_code == 422


def test_fal_client_with_a_wrong_key_is_refused(sim_url: str, fal: fal_client.SyncClient) -> None:
    wrong = fal_client.SyncClient(key="wrong-key")
    with pytest.raises(fal_client.client.FalClientHTTPError) as caught:
        wrong.submit("fal-ai/imagen4/preview", arguments=FAL_ARGS)
    assert caught.value.status_code == 401


def test_replicate_run_returns_the_output_url(rep: ReplicateClient) -> None:
    output = rep.run("google/imagen-4", input=REPLICATE_INPUT)
    # FileOutput wraps https URLs only; the simulator's are http, so a plain string comes back
    assert isinstance(output, str)
    assert image_size(output) == (1024, 1024)


def test_replicate_run_polls_a_prediction_not_done_within_the_wait(
    rep: ReplicateClient, sim_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_behaviour(
        sim_url, "replicate:*", latency={"queue": {"fixed": 0.3}, "inference": {"fixed": 1.5}}
    )
    monkeypatch.setattr(rep, "poll_interval", 0.05)
    output = rep.run("google/imagen-4-fast", input=REPLICATE_INPUT, wait=1)
    assert isinstance(output, str) and output.startswith(f"{sim_url}/files/")


def test_replicate_predictions_can_be_created_and_cancelled(
    rep: ReplicateClient, sim_url: str
) -> None:
    set_behaviour(sim_url, "replicate:*", latency={"queue": {"fixed": 30.0}})
    prediction = rep.models.predictions.create(model="google/imagen-4-ultra", input=REPLICATE_INPUT)
    assert prediction.status == "starting"
    prediction.cancel()
    prediction.reload()
    assert str(prediction.status) == "canceled"  # str(): mypy keeps the narrowing


def test_replicate_run_raises_model_error_on_a_safety_block(
    rep: ReplicateClient, sim_url: str
) -> None:
    set_behaviour(sim_url, "replicate:*", safety_ratio=1.0)
    with pytest.raises(ModelError, match="sensitive"):
        rep.run("google/imagen-4", input=REPLICATE_INPUT)


def test_replicate_models_get_and_account_work(rep: ReplicateClient) -> None:
    model = rep.models.get("google/imagen-4")
    assert (model.owner, model.name) == ("google", "imagen-4")
    assert rep.accounts.current().username == "provmon-sim"
