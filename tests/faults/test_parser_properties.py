"""Hostile answers to every probe module: random, truncated and type-confused JSON.

Each protocol in ``probes.PROBES`` runs its real ``generate`` and ``control`` under the
real :class:`~monitor.runner.Runner` against answers drawn by hypothesis: random status
codes, headers and bodies (valid JSON in the provider's vocabulary with values of the
wrong type, arbitrary JSON, truncated JSON, raw bytes, real images of the right and the
wrong size). Whatever comes back, the runner returns a :class:`ProbeResult` whose outcome
is one of the closed set, never raises, never reaches its "adapter crashed" fallback, and
never calls a generate probe ``ok`` unless a decodable image of the expected size came back.

The answers are served by ``httpx.MockTransport``, the rare case DESIGN.md allows: a real
server cannot produce thousands of arbitrary hypothesis bodies per second, and the point
here is the parsing, which the fault matrix (``test_probe_faults.py``) already pairs with
real sockets. The ``classify`` functions are also fed arbitrary statuses and bodies.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from monitor.config import Config, parse_config
from monitor.interfaces import Kind, Outcome, ProbeResult
from monitor.runner import Runner
from probes import PROBES, _google, _openai_images, bfl, fal, openrouter, replicate

W, H = 64, 48
MODEL = "m1"


def _image(width: int, height: int, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 10, 10)).save(out, format=fmt)
    return out.getvalue()


GOOD = _image(W, H)
WRONG = _image(H, W)
JPEG = _image(W, H, "JPEG")
B64 = [base64.b64encode(x).decode() for x in (GOOD, WRONG, JPEG)]
URLS = ["http://provider.test/file.png", "http://provider.test/jobs/1", "ftp://x", ""]
#: the words every provider answer is made of, so that drawn bodies get deep into parsers
KEYS = [
    # OpenAI images
    "data",
    "b64_json",
    "url",
    "error",
    "message",
    "code",
    "type",
    "id",
    "object",
    # Google
    "predictions",
    "bytesBase64Encoded",
    "raiFilteredReason",
    "contentType",
    "mimeType",
    "candidates",
    "content",
    "parts",
    "inlineData",
    "inline_data",
    "promptFeedback",
    "blockReason",
    "finishReason",
    "responseId",
    "name",
    "status",
    "details",
    "reason",
    "@type",
    "retryDelay",
    "gcsUri",
    # fal
    "request_id",
    "status_url",
    "response_url",
    "cancel_url",
    "images",
    "detail",
    "error_type",
    "metrics",
    "inference_time",
    "models",
    "endpoint_id",
    "metadata",
    "logs",
    "queue_position",
    # Replicate
    "urls",
    "get",
    "cancel",
    "output",
    "created_at",
    "started_at",
    "predict_time",
    # usage (generateContent, OpenAI-shape, OpenRouter), OpenRouter, BFL
    "usage",
    "usageMetadata",
    "promptTokenCount",
    "candidatesTokenCount",
    "thoughtsTokenCount",
    "candidatesTokensDetails",
    "modality",
    "tokenCount",
    "thought",
    "modelVersion",
    "input_tokens",
    "output_tokens",
    "prompt_tokens",
    "completion_tokens",
    "completion_tokens_details",
    "image_tokens",
    "cost",
    "endpoints",
    "limit_remaining",
    "polling_url",
    "result",
    "sample",
    "progress",
    "output_mp",
    "credits",
]
WORDS = [
    MODEL,
    f"models/{MODEL}",
    f"publishers/google/models/{MODEL}",
    "IN_QUEUE",
    "IN_PROGRESS",
    "COMPLETED",
    "starting",
    "processing",
    "succeeded",
    "failed",
    "canceled",
    "aborted",
    "deprecated",
    "API_KEY_INVALID",
    "RESOURCE_EXHAUSTED",
    "NOT_FOUND",
    "content_policy_violation",
    "moderation_blocked",
    "model_not_found",
    "safety flagged",
    "Positive Prompt",
    "STOP",
    "SAFETY",
    "IMAGE",
    "NO_IMAGE",
    "IMAGE_SAFETY",
    "Ready",
    "Pending",
    "Content Moderated",
    "Error",
    "7s",
    "2026-01-01T00:00:00.123456789Z",
    "2026-01-01T00:00:01",
    "2026-01-01",
    "type.googleapis.com/google.rpc.RetryInfo",
    *B64,
    *URLS,
]

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(WORDS),
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=6),
        st.dictionaries(st.text(max_size=8), inner, max_size=3),
    ),
    max_leaves=25,
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["json", "json", "json", "truncated", "bytes", "image"]))
    if kind == "image":
        return draw(st.sampled_from([GOOD, WRONG, JPEG, GOOD[: len(GOOD) // 2]]))
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    text = json.dumps(draw(values), allow_nan=True).encode()
    if kind == "truncated":
        return text[: draw(st.integers(min_value=0, max_value=max(0, len(text) - 1)))]
    return text


@st.composite
def answers(draw: st.DrawFn) -> tuple[int, dict[str, str], bytes]:
    status = draw(
        st.one_of(
            st.sampled_from(
                [200, 200, 200, 201, 202, 400, 401, 403, 404, 410, 422, 429, 500, 503, 504]
            ),
            st.integers(min_value=100, max_value=599),
        )
    )
    headers = draw(
        st.dictionaries(
            st.sampled_from(
                [
                    "content-type",
                    "retry-after",
                    "retry-after-ms",
                    "x-request-id",
                    "x-fal-request-id",
                    "x-fal-error-type",
                    "content-length",
                ]
            ),
            st.one_of(
                st.sampled_from(
                    ["application/json", "text/html", "7", "-1", "abc", "1e9", "99999999999"]
                ),
                st.text(alphabet="abc123 ;=/", max_size=12),
            ),
            max_size=3,
        )
    )
    headers.pop("content-length", None)  # httpx computes it; a lying one is a socket case
    return status, headers, draw(bodies())


def config_for(protocol: str) -> Config:
    options: dict[str, Any] = {}
    if protocol in ("fal", "replicate", "bfl"):
        options["poll_interval_seconds"] = 0.001
    if protocol == "fal":
        options |= {
            "queue_url": "http://provider.test/q",
            "run_url": "http://provider.test/r",
            "api_url": "http://provider.test/api",
        }
    if protocol == "replicate":
        options |= {"api_url": "http://provider.test/v1", "prefer_wait": 0}
    if protocol == "vertex":
        options |= {"auth": "token_env", "project": "p1"}
    return parse_config(
        {
            "defaults": {"timeout_seconds": 2},
            "models": {MODEL: {}},
            "providers": {
                "p": {
                    "protocol": protocol,
                    "base_url": "http://provider.test",
                    "credential_required": False,
                    "options": options,
                }
            },
            "offerings": {
                f"p/{MODEL}": {
                    "provider_model": MODEL,
                    "expect": {"width": W, "height": H},
                }
            },
        }
    )


CONFIGS = {name: config_for(name) for name in PROBES}


async def probe(
    protocol: str, kind: Kind, script: list[tuple[int, dict[str, str], bytes]]
) -> ProbeResult:
    """One probe whose every request gets the next scripted answer, then 503s forever."""
    queue = list(script)

    def handler(request: httpx.Request) -> httpx.Response:
        status, headers, body = queue.pop(0) if queue else (503, {}, b"{}")
        return httpx.Response(status, headers=headers, content=body)

    runner = Runner(CONFIGS[protocol])
    runner._clients[f"p/{MODEL}"] = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    try:
        return await runner.run_probe(f"p/{MODEL}", kind)
    finally:
        await runner.aclose()


def check(result: ProbeResult, kind: Kind) -> None:
    assert isinstance(result, ProbeResult)
    assert result.outcome in set(Outcome)
    assert not (result.error or "").startswith("probe crashed"), result.error
    if result.outcome == Outcome.OK and kind == Kind.GENERATE:
        assert result.image is not None
        assert (result.image.width, result.image.height) == (W, H)


SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("kind", list(Kind), ids=[k.value for k in Kind])
@pytest.mark.parametrize("protocol", sorted(PROBES))
def test_any_answer_gives_an_outcome_never_a_crash(protocol: str, kind: Kind) -> None:
    @SETTINGS
    @given(script=st.lists(answers(), min_size=1, max_size=6))
    def run(script: list[tuple[int, dict[str, str], bytes]]) -> None:
        check(asyncio.run(probe(protocol, kind, script)), kind)

    run()


def test_a_valid_answer_is_ok_so_the_properties_are_not_vacuous() -> None:
    body = json.dumps({"data": [{"b64_json": B64[0]}]}).encode()
    result = asyncio.run(probe("lumenfall", Kind.GENERATE, [(200, {}, body)]))
    assert result.outcome == Outcome.OK and result.image is not None
    wrong = json.dumps({"data": [{"b64_json": B64[1]}]}).encode()
    result = asyncio.run(probe("lumenfall", Kind.GENERATE, [(200, {}, wrong)]))
    assert result.outcome == Outcome.INVALID_OUTPUT


@pytest.mark.parametrize(
    ("created", "started"),
    [("2026-01-01T00:00:00Z", "2026-01-01T00:00:01"), ("2026-01-01T00:00:00", "bogus")],
)
def test_replicate_timestamps_with_and_without_a_zone_do_not_crash(
    created: str, started: str
) -> None:
    """Found while writing these properties: an aware and a naive timestamp crashed the
    adapter (TypeError), so a delivered image was reported as a protocol error."""
    body = {
        "id": "p1",
        "status": "succeeded",
        "urls": {"get": "http://provider.test/g"},
        "output": "http://provider.test/file.png",
        "created_at": created,
        "started_at": started,
        "metrics": {"predict_time": float("inf")},
    }
    script = [(201, {}, json.dumps(body).encode()), (200, {}, GOOD)]
    result = asyncio.run(probe("replicate", Kind.GENERATE, script))
    assert result.outcome == Outcome.OK, result.error
    assert all(0 <= seconds < 60 for seconds in result.phases.values())


CLASSIFIERS = {
    "openai_images": _openai_images.classify,
    "google": _google.classify,
    "fal": fal.classify,
    "replicate": replicate.classify,
    "openrouter": openrouter.classify,
    "bfl": bfl.classify,
}


@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
@settings(max_examples=300, deadline=None)
@given(status=st.integers(min_value=-1, max_value=1000), body=values)
def test_every_classify_returns_an_outcome(name: str, status: int, body: Any) -> None:
    assert CLASSIFIERS[name](status, body) in set(Outcome)


@settings(max_examples=200, deadline=None)
@given(body=values)
def test_google_helpers_never_raise_but_probe_failures(body: Any) -> None:
    from monitor.interfaces import ProbeFailure

    assert _google.retry_delay(body) is None or isinstance(_google.retry_delay(body), float)
    for parse in (_google.image_from_predictions, _google.image_from_candidates):
        try:
            parse(body)
        except ProbeFailure as exc:
            assert exc.outcome in set(Outcome)


@settings(max_examples=300, deadline=None)
@given(body=values)
def test_usage_readers_never_raise_and_never_report_a_negative_amount(body: Any) -> None:
    from probes import _content

    answer = body if isinstance(body, dict) else {}
    for usage in (
        _content.usage_of(body, images=1),
        _openai_images.usage_of(answer, images=1),
        bfl.usage_of(answer),
    ):
        if usage is None:
            continue
        for name, value in usage.as_dict().items():
            assert float(value) >= 0, (name, value)
