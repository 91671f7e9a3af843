"""``:generateContent`` for Gemini image models: the Gemini API and Vertex AI probes against
the simulator over loopback, every outcome the fake can give, and the answer rules alone."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.config import Config, parse_config
from monitor.interfaces import Kind, Outcome, PriceUnit, ProbeFailure, ProbeResult, Usage
from monitor.runner import Runner
from probes._content import image_from_candidates, request_body, usage_of
from tests.conftest import set_behaviour

MODEL = "gemini-nano-banana-2.1"
PRO = "gemini-3-pro-image"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()


def with_offerings(config: Config, *, location: str = "global", **params: Any) -> Config:
    """The simulator config plus Nano Banana 2.1 and 3 Pro Image at both Google surfaces."""
    data = config.model_dump(mode="json")
    data["providers"]["vertex"]["options"]["location"] = location
    for model, extra in ((MODEL, {"thinkingLevel": "MINIMAL"}), (PRO, {})):
        data["models"][model] = {"family": "gemini-image"}
        for provider in ("gemini", "vertex"):
            data["offerings"][f"{provider}/{model}"] = {
                "provider_model": model,
                "params": {"aspectRatio": "1:1", "imageSize": "1K", **extra, **params},
                "expect": {"width": 1024, "height": 1024},
                "listed_price_usd": "0.0336",
            }
    return parse_config(data)


class ProRates:
    """Gemini 3 Pro Image's listed rates (https://ai.google.dev/gemini-api/docs/pricing):
    $2/M input, $12/M text output and thinking, $120/M image output."""

    rates = {
        PriceUnit.INPUT_TOKEN: Decimal("0.000002"),
        PriceUnit.OUTPUT_TOKEN: Decimal("0.000012"),
        PriceUnit.IMAGE_OUTPUT_TOKEN: Decimal("0.00012"),
    }

    def rates_of(self, offering: str) -> dict[PriceUnit, Decimal]:
        return dict(self.rates)

    def price_of(self, offering: str) -> Decimal:
        return Decimal("0.134")


async def probe(
    config: Config, offering: str, kind: Kind = Kind.GENERATE, prices: Any = None
) -> ProbeResult:
    runner = Runner(config, prices=prices)
    try:
        return await runner.run_probe(offering, kind)
    finally:
        await runner.aclose()


@pytest.mark.parametrize("provider", ["gemini", "vertex"])
async def test_an_image_comes_back_with_its_usage_model_version_and_response_id(
    sim_config: Config, provider: str
) -> None:
    result = await probe(with_offerings(sim_config), f"{provider}/{MODEL}")
    assert result.outcome == Outcome.OK, result.error
    assert result.image is not None and (result.image.width, result.image.height) == (1024, 1024)
    assert result.usage is not None
    assert result.usage.output_image_tokens == 1120  # a 1K image of Gemini 3 image models
    assert result.usage.output_text_tokens == 0  # MINIMAL thinking: no thought tokens
    assert result.usage.input_tokens and result.usage.input_tokens > 0
    assert result.served_model == MODEL
    assert result.provider_request_id


@pytest.mark.parametrize("provider", ["gemini", "vertex"])
async def test_thinking_tokens_count_as_text_output(sim_config: Config, provider: str) -> None:
    result = await probe(with_offerings(sim_config), f"{provider}/{PRO}")
    assert result.outcome == Outcome.OK, result.error
    assert result.usage is not None
    assert (result.usage.output_image_tokens, result.usage.output_text_tokens) == (1120, 337)
    high = with_offerings(sim_config, thinkingLevel="HIGH")
    result = await probe(high, f"{provider}/{MODEL}")
    assert result.usage is not None and result.usage.output_text_tokens == 412


async def test_the_measured_cost_prices_image_and_thinking_tokens_apart(
    sim_config: Config,
) -> None:
    result = await probe(with_offerings(sim_config), f"gemini/{PRO}", prices=ProRates())
    assert result.outcome == Outcome.OK, result.error
    assert result.usage is not None and result.usage.input_tokens
    # 1120 image tokens at $120/M ($0.1344, Google's per-image price) + 337 thought tokens
    # at the $12/M text rate + the prompt at $2/M: no flat per-image charge on top
    expected = (
        Decimal("0.1344")
        + 337 * Decimal("0.000012")
        + result.usage.input_tokens * Decimal("0.000002")
    )
    assert result.measured_cost_usd == expected


async def test_a_thinking_level_the_model_lacks_is_a_bad_request(sim_config: Config) -> None:
    result = await probe(with_offerings(sim_config, thinkingLevel="MINIMAL"), f"gemini/{PRO}")
    assert result.outcome == Outcome.BAD_REQUEST
    assert "Thinking level" in (result.error or "")


async def test_vertex_serves_gemini_3_image_models_on_global_only(sim_config: Config) -> None:
    regional = with_offerings(sim_config, location="us-central1")
    result = await probe(regional, f"vertex/{MODEL}")
    assert result.outcome == Outcome.MODEL_UNAVAILABLE
    assert result.http_status == 404


@pytest.mark.parametrize("provider", ["gemini", "vertex"])
@pytest.mark.parametrize(
    ("variant", "outcome", "said"),
    [
        ("finish:NO_IMAGE", Outcome.INVALID_OUTPUT, "NO_IMAGE"),
        ("finish:IMAGE_OTHER", Outcome.INVALID_OUTPUT, "IMAGE_OTHER"),
        ("finish:MALFORMED_RESPONSE", Outcome.INVALID_OUTPUT, "MALFORMED_RESPONSE"),
        ("finish:MAX_TOKENS", Outcome.INVALID_OUTPUT, "MAX_TOKENS"),
        ("finish:OTHER", Outcome.INVALID_OUTPUT, "OTHER"),
        ("finish:SOMETHING_NEW", Outcome.INVALID_OUTPUT, "SOMETHING_NEW"),
        ("finish:SAFETY", Outcome.CONTENT_FILTERED, "SAFETY"),
        ("finish:IMAGE_PROHIBITED_CONTENT", Outcome.CONTENT_FILTERED, "PROHIBITED"),
        ("finish:IMAGE_RECITATION", Outcome.CONTENT_FILTERED, "RECITATION"),
        ("block:PROHIBITED_CONTENT", Outcome.CONTENT_FILTERED, "prompt blocked"),
        ("refusal", Outcome.CONTENT_FILTERED, "text"),
    ],
)
async def test_every_answer_variant_of_the_fake_is_classified(
    sim_config: Config, sim_url: str, provider: str, variant: str, outcome: Outcome, said: str
) -> None:
    set_behaviour(sim_url, f"{provider}:{MODEL}", variant=variant)
    result = await probe(with_offerings(sim_config), f"{provider}/{MODEL}")
    assert result.outcome == outcome, result.error
    assert said in (result.error or "")
    assert result.http_status == 200
    # the failed answer still billed its prompt: its usage reaches the result
    assert result.usage is not None and result.usage.input_tokens
    assert result.usage.images == 0 and not result.usage.output_image_tokens


async def test_a_safety_blocked_image_is_filtered_with_its_prompt_tokens(
    sim_config: Config, sim_url: str
) -> None:
    set_behaviour(sim_url, f"gemini:{MODEL}", safety_ratio=1.0)
    result = await probe(with_offerings(sim_config), f"gemini/{MODEL}")
    assert result.outcome == Outcome.CONTENT_FILTERED
    assert "IMAGE_SAFETY" in (result.error or "")
    assert result.usage is not None and result.usage.input_tokens
    assert result.cost_usd == 0


async def test_draft_images_in_thought_parts_are_skipped(sim_config: Config, sim_url: str) -> None:
    # the draft is half the size: taking it would fail the size check as invalid_output
    set_behaviour(sim_url, f"vertex:{PRO}", variant="thoughts")
    result = await probe(with_offerings(sim_config), f"vertex/{PRO}")
    assert result.outcome == Outcome.OK, result.error
    assert result.image is not None and result.image.width == 1024


@pytest.mark.parametrize(
    ("behaviour", "outcome", "status"),
    [
        ({"outage": "error"}, Outcome.SERVER_ERROR, 500),
        ({"rate_limit_ratio": 1.0}, Outcome.RATE_LIMITED, 429),
        ({"retired": True}, Outcome.MODEL_UNAVAILABLE, 404),
    ],
)
async def test_generate_content_errors_are_classified(
    sim_config: Config, sim_url: str, behaviour: dict[str, Any], outcome: Outcome, status: int
) -> None:
    set_behaviour(sim_url, f"gemini:{MODEL}", **behaviour)
    result = await probe(with_offerings(sim_config), f"gemini/{MODEL}")
    assert (result.outcome, result.http_status) == (outcome, status), result.error
    assert result.usage is None


@pytest.mark.parametrize("provider", ["gemini", "vertex"])
async def test_the_control_probe_gets_the_model(sim_config: Config, provider: str) -> None:
    result = await probe(with_offerings(sim_config), f"{provider}/{MODEL}", Kind.CONTROL)
    assert result.outcome == Outcome.OK, result.error
    assert result.usage is None


def test_the_fake_rejects_what_google_rejects(sim_url: str) -> None:
    url = f"{sim_url}/gemini/v1beta/models/{MODEL}:generateContent"
    headers = {"x-goog-api-key": "sim-gemini-key"}
    good = request_body("a cube", {"aspectRatio": "1:1", "imageSize": "1K"})
    assert httpx.post(url, json=good, headers=headers).status_code == 200
    for params in ({"imageSize": "8K"}, {"aspectRatio": "7:3"}, {"thinkingLevel": "XHIGH"}):
        answer = httpx.post(url, json=request_body("a cube", params), headers=headers)
        assert answer.status_code == 400, params
        assert answer.json()["error"]["status"] == "INVALID_ARGUMENT"


# -- the rules alone --------------------------------------------------------------------


def test_the_body_asks_for_an_image_only_at_the_lowest_thinking_level() -> None:
    body = request_body("p", {"aspectRatio": "1:1", "imageSize": "1K", "thinkingLevel": "MINIMAL"})
    assert body == {
        "contents": [{"role": "user", "parts": [{"text": "p"}]}],
        "generationConfig": {
            "responseModalities": ["IMAGE"],
            "thinkingConfig": {"thinkingLevel": "MINIMAL"},
            "imageConfig": {"aspectRatio": "1:1", "imageSize": "1K"},
        },
    }


@pytest.mark.parametrize(
    "answer",
    [
        {"candidates": [{"content": {"parts": [{"inlineData": {"data": PNG}}]}}]},
        {"candidates": [{"content": {"parts": [{"inline_data": {"data": PNG}}]}}]},
    ],
)
def test_generate_content_reads_camel_or_snake_case(answer: Any) -> None:
    assert image_from_candidates(answer).startswith(b"\x89PNG")


def test_the_last_image_that_is_not_a_thought_is_the_answer() -> None:
    other = base64.b64encode(b"draft").decode()
    last = base64.b64encode(b"final").decode()
    parts = [
        {"inlineData": {"mimeType": "image/png", "data": other}, "thought": True},
        {"inlineData": {"mimeType": "image/png", "data": other}},
        {"inlineData": {"mimeType": "image/png", "data": last}},
        {"inlineData": {"mimeType": "image/png", "data": other}, "thought": True},
    ]
    answer = {"candidates": [{"content": {"parts": parts}, "finishReason": "STOP"}]}
    assert image_from_candidates(answer) == b"final"


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        ({"promptFeedback": {"blockReason": "SAFETY"}}, Outcome.CONTENT_FILTERED),
        (
            {"prompt_feedback": {"block_reason": "OTHER"}, "candidates": []},
            Outcome.CONTENT_FILTERED,
        ),
        ({"candidates": []}, Outcome.INVALID_OUTPUT),
        ({"candidates": [{"finishReason": "BLOCKLIST"}]}, Outcome.CONTENT_FILTERED),
        ({"candidates": [{"finishReason": "SPII"}]}, Outcome.CONTENT_FILTERED),
        ({"candidates": [{"finishReason": "NO_IMAGE"}]}, Outcome.INVALID_OUTPUT),
        ({"candidates": [{"content": {"parts": [{"text": "no"}]}}]}, Outcome.CONTENT_FILTERED),
        ({"candidates": [{"finishReason": "STOP", "content": {}}]}, Outcome.INVALID_OUTPUT),
        (
            {"candidates": [{"content": {"parts": [{"text": "hm", "thought": True}]}}]},
            Outcome.INVALID_OUTPUT,
        ),
        ({"candidates": "x"}, Outcome.PROTOCOL_ERROR),
    ],
)
def test_answers_without_an_image(answer: Any, outcome: Outcome) -> None:
    with pytest.raises(ProbeFailure) as failure:
        image_from_candidates(answer)
    assert failure.value.outcome == outcome


def test_usage_splits_image_text_and_thinking_tokens() -> None:
    # the worked example of ding113/claude-code-hub#663: 2000 image + 340 text + 337 thought
    meta = {
        "promptTokenCount": 30,
        "promptTokensDetails": [
            {"modality": "TEXT", "tokenCount": 12},
            {"modality": "IMAGE", "tokenCount": 18},
        ],
        "candidatesTokenCount": 2340,
        "candidatesTokensDetails": [
            {"modality": "IMAGE", "tokenCount": 2000},
            {"modality": "TEXT", "tokenCount": 340},
        ],
        "thoughtsTokenCount": 337,
    }
    assert usage_of({"usageMetadata": meta}, images=1) == Usage(
        images=1,
        input_tokens=12,
        input_image_tokens=18,
        output_text_tokens=677,
        output_image_tokens=2000,
    )
    plain = {"usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 1290}}
    assert usage_of(plain, images=1) == Usage(input_tokens=9, output_image_tokens=1290)
    assert usage_of({"usageMetadata": "x"}, images=1) is None
    assert json.dumps(Usage(input_tokens=1).as_dict())


ANSWERS = sorted(
    path
    for path in (Path(__file__).resolve().parents[1] / "fixtures" / "answers").glob(
        "*/content-*.json"
    )
    if path.parent.name in ("gemini", "vertex")  # generateContent answers only
)


@pytest.mark.parametrize("path", ANSWERS, ids=[f"{p.parent.name}/{p.name}" for p in ANSWERS])
def test_each_saved_answer_reads_as_its_corpus_entry_expects(path: Path) -> None:
    entry = json.loads(path.read_text(encoding="utf-8"))
    assert entry["source"].startswith("http") and entry["description"]
    [mapping] = entry["mappings"]
    answer = mapping["response"]["jsonBody"]
    expect = entry["expect"]
    try:
        image_from_candidates(answer)
        outcome, message = Outcome.OK, ""
    except ProbeFailure as failure:
        outcome, message = failure.outcome, failure.message
    assert outcome == expect["outcome"]
    assert expect.get("error_contains", "") in message
    # every answer, failed or not, reports what it billed
    assert usage_of(answer, images=1) is not None


def test_the_corpus_covers_both_surfaces() -> None:
    assert {p.parent.name for p in ANSWERS} == {"gemini", "vertex"}
    assert len(ANSWERS) >= 10
