"""The job protocols' rules from real answers (issue 14): deadlines sent to the provider,
phases never counted twice, inline outputs, where the token goes, lost jobs, Retry-After.

Requests are checked by what the simulator's stub mappings matched: a mapping that only
matches a request carrying the expected header answers in a way the probe reports.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from monitor.config import Config
from monitor.health import HealthBook, Sample, State
from monitor.http import account_problem, retry_after_seconds
from monitor.interfaces import Kind, Outcome, Phase, ProbeResult
from monitor.runner import Runner
from probes.replicate import ReplicateProbe
from tests.conftest import set_behaviour

FAL = "fal/imagen-4.0-generate-001"
REPLICATE = "replicate/imagen-4.0-generate-001"
FAST = {"ttfb": {"fixed": 0.0}, "queue": {"fixed": 0.1}, "inference": {"fixed": 0.1}}
CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "answers"
JSONH = {"Content-Type": "application/json"}


def stub(sim_url: str, request: dict[str, Any], status: int, **response: Any) -> None:
    mapping = {"request": request, "response": {"status": status, **response}}
    posted = httpx.post(f"{sim_url}/_sim/mappings", json=mapping)
    assert posted.status_code == 201, posted.text


def replace_mappings(sim_url: str, mappings: list[dict[str, Any]]) -> None:
    httpx.delete(f"{sim_url}/_sim/mappings").raise_for_status()
    for mapping in mappings:
        assert httpx.post(f"{sim_url}/_sim/mappings", json=mapping).status_code == 201


def with_timeout(config: Config, offering: str, seconds: float) -> Config:
    config = config.model_copy(deep=True)
    entry = config.offerings[offering]
    config.offerings[offering] = entry.model_copy(update={"timeout_seconds": seconds})
    return config


async def probe(config: Config, offering: str, kind: Kind = Kind.GENERATE) -> ProbeResult:
    runner = Runner(config)
    try:
        return await runner.run_probe(offering, kind)
    finally:
        await runner.aclose()


@pytest.fixture()
def cfg(sim_config: Config, sim_url: str) -> Config:
    set_behaviour(sim_url, "*", latency=FAST)
    return sim_config


def data_uri() -> str:
    out = io.BytesIO()
    Image.new("RGB", (1024, 1024), (1, 2, 3)).save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


async def test_fal_submit_carries_its_start_deadline(cfg: Config, sim_url: str) -> None:
    # only a submit carrying X-Fal-Request-Timeout of the time left (30 s, rounded down)
    # gets this answer; any other submit goes to the fake and succeeds
    stub(
        sim_url,
        {
            "method": "POST",
            "urlPath": "/fal/queue/fal-ai/imagen4/preview",
            "headers": {"X-Fal-Request-Timeout": {"matches": "2[89]"}},
        },
        429,
        jsonBody={"detail": "seen"},
    )
    result = await probe(with_timeout(cfg, FAL, 30), FAL)
    assert result.outcome == Outcome.RATE_LIMITED, result.error


async def test_replicate_create_carries_cancel_after_of_at_least_five_seconds(
    cfg: Config, sim_url: str
) -> None:
    create = {"method": "POST", "urlPath": "/replicate/v1/models/google/imagen-4/predictions"}
    stub(sim_url, {**create, "headers": {"Cancel-After": {"equalTo": "30s"}}}, 429, jsonBody={})
    stub(sim_url, {**create, "headers": {"Cancel-After": {"equalTo": "5s"}}}, 503, jsonBody={})
    assert (await probe(with_timeout(cfg, REPLICATE, 30), REPLICATE)).outcome == (
        Outcome.RATE_LIMITED
    )
    # a 3 s deadline still sends Replicate's minimum
    assert (await probe(with_timeout(cfg, REPLICATE, 3), REPLICATE)).outcome == (
        Outcome.SERVER_ERROR
    )


async def test_fal_queue_time_is_elapsed_minus_reported_inference(
    cfg: Config, sim_url: str
) -> None:
    # done at the first poll, with an inference time longer than we waited: the queue is
    # what is left of the elapsed time (nothing), never the whole wait again
    stub(
        sim_url,
        {"method": "GET", "urlPathPattern": "/fal/queue/fal-ai/imagen4/requests/[^/]+/status"},
        200,
        jsonBody={
            "status": "COMPLETED",
            "queue_position": None,
            "logs": [],
            "metrics": {"inference_time": 5.0},
        },
        headers=JSONH,
    )
    stub(
        sim_url,
        {"method": "GET", "urlPathPattern": "/fal/queue/fal-ai/imagen4/requests/[^/]+"},
        200,
        jsonBody={"images": [{"url": data_uri(), "content_type": "image/png"}]},
    )
    result = await probe(cfg, FAL)
    assert result.outcome == Outcome.OK, result.error
    assert result.phases[Phase.INFERENCE] == pytest.approx(5.0)
    assert result.phases[Phase.QUEUE] == 0.0


async def test_a_queued_fal_job_splits_its_wait_without_overlap(cfg: Config, sim_url: str) -> None:
    set_behaviour(sim_url, "fal:*", latency={"queue": {"fixed": 0.3}, "inference": {"fixed": 0.3}})
    result = await probe(cfg, FAL)
    assert result.outcome == Outcome.OK, result.error
    waited = result.phases[Phase.TOTAL] - result.phases[Phase.DOWNLOAD]
    assert result.phases[Phase.QUEUE] + result.phases[Phase.INFERENCE] <= waited
    assert result.phases[Phase.QUEUE] >= 0.3 - 0.01


async def test_a_data_uri_output_is_decoded_billed_and_takes_no_download_time(
    cfg: Config, sim_url: str
) -> None:
    stub(
        sim_url,
        {"method": "GET", "urlPathPattern": "/fal/queue/fal-ai/imagen4/requests/[^/]+"},
        200,
        jsonBody={"images": [{"url": data_uri(), "content_type": "image/png"}]},
        headers=JSONH,
    )
    result = await probe(cfg, FAL)
    assert result.outcome == Outcome.OK, result.error
    assert result.image is not None and result.image.width == 1024
    assert result.phases[Phase.DOWNLOAD] == 0.0
    assert str(result.cost_usd) == "0.04"


@pytest.mark.parametrize(
    ("uri", "outcome"),
    [
        ("data:image/png;base64,!!!not-base64", Outcome.INVALID_OUTPUT),
        ("data:image/png;base64", Outcome.INVALID_OUTPUT),
        ("data:text/plain,hello", Outcome.INVALID_OUTPUT),  # decoded, then not an image
    ],
)
async def test_a_broken_data_uri_is_invalid_output(
    cfg: Config, sim_url: str, uri: str, outcome: Outcome
) -> None:
    stub(
        sim_url,
        {"method": "GET", "urlPathPattern": "/fal/queue/fal-ai/imagen4/requests/[^/]+"},
        200,
        jsonBody={"images": [{"url": uri, "content_type": "image/png"}]},
    )
    assert (await probe(cfg, FAL)).outcome == outcome


def test_the_replicate_token_goes_to_replicates_own_hosts_only(cfg: Config) -> None:
    runner = Runner(cfg)
    ctx = runner.context(REPLICATE, Kind.GENERATE, deadline=1e12)
    token = {"Authorization": "Bearer sim-replicate-token"}
    probe_ = ReplicateProbe()
    for url in (
        "https://replicate.delivery/xezq/abc/out-0.webp",
        "https://pbxt.replicate.delivery/abc/out-0.png",
        "https://api.replicate.com/v1/files/abc/download",
        f"{cfg.providers['replicate'].options['api_url']}/../../files/x.png",  # the simulator
    ):
        assert probe_.download_headers(ctx, url) == token, url
    for url in (
        "https://replicate.delivery.evil.example/out.png",
        "https://evil.example/replicate.delivery/out.png",
        "https://cdn.example.com/out.png",
    ):
        assert probe_.download_headers(ctx, url) == {}, url


async def test_two_lost_jobs_never_retire_an_offering(cfg: Config, sim_url: str) -> None:
    book = HealthBook()
    for name in ("fal/lost-job-status-404.json", "replicate/lost-prediction-404.json"):
        answer = json.loads((CORPUS / name).read_text(encoding="utf-8"))
        replace_mappings(sim_url, answer["mappings"])
        for n in range(3):
            result = await probe(cfg, answer["offering"])
            assert result.outcome == Outcome.PROTOCOL_ERROR, result.error
            at = dt.datetime(2026, 12, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=n)
            book.observe(answer["offering"], "local", Sample(outcome=result.outcome, at=at))
        assert book.get(answer["offering"], "local").state != State.RETIRED


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = dt.datetime(2026, 12, 1, 12, 0, 0, tzinfo=dt.UTC)

    def seconds(value: str) -> float | None:
        return retry_after_seconds(httpx.Headers({"Retry-After": value}), now=now)

    assert seconds("7") == 7.0
    assert seconds("Tue, 01 Dec 2026 12:00:42 GMT") == 42.0
    assert seconds("Tue, 01 Dec 2026 11:00:00 GMT") == 0.0  # already past
    assert seconds("soon") is None


@pytest.mark.parametrize(
    ("status", "text", "problem"),
    [
        (402, "anything", "billing"),
        (403, "User is locked. Reason: Exhausted balance.", "billing"),
        (403, "User is locked. Reason: TOP_UP.", "billing"),
        (403, "User is locked. Reason: Admin lock.", "permission"),
        (401, "Unauthenticated You did not pass a valid authentication token", "key"),
        (429, "quota", None),
    ],
)
def test_account_problems_say_which(status: int, text: str, problem: str | None) -> None:
    assert account_problem(status, text) == problem


async def test_the_token_does_not_follow_a_redirect_to_another_host(
    cfg: Config, sim_url: str
) -> None:
    # the output lives on the API's host (the token is sent) and redirects to another
    # origin (localhost instead of 127.0.0.1): the file is served only if the token is gone
    other = sim_url.replace("127.0.0.1", "localhost")
    create = {"method": "POST", "urlPath": "/replicate/v1/models/google/imagen-4/predictions"}
    prediction = {
        "id": "redir1",
        "status": "succeeded",
        "output": "{{request.baseUrl}}/files/redirect/out.png",
        "urls": {"get": "{{request.baseUrl}}/replicate/v1/predictions/redir1"},
    }
    stub(sim_url, create, 201, jsonBody=prediction, transformers=["response-template"])
    stub(
        sim_url,
        {"urlPath": "/files/redirect/out.png"},
        302,
        headers={"Location": f"{other}/files/elsewhere/out.png"},
    )
    png = data_uri().split(",", 1)[1]
    stub(
        sim_url,
        {"urlPath": "/files/elsewhere/out.png", "headers": {"Authorization": {"absent": True}}},
        200,
        base64Body=png,
        headers={"Content-Type": "image/png"},
    )
    result = await probe(cfg, REPLICATE)
    assert result.outcome == Outcome.OK, result.error
