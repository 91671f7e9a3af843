"""google-genai's ``generate_content`` against the fake Gemini API and Vertex AI, base URL
changed only: if Google's own client reads the fake's answers, the fake speaks the wire format
and not just the dialect provmon's probe expects."""

from __future__ import annotations

import io
from collections.abc import Iterator

import google.oauth2.credentials
import pytest
from google import genai
from google.genai import errors, types
from PIL import Image

from tests.conftest import set_behaviour

MODEL = "gemini-nano-banana-2.1"
PROMPT = "a small red cube on a plain white table, studio light"
CONFIG = types.GenerateContentConfig(
    response_modalities=["IMAGE"],
    image_config=types.ImageConfig(aspect_ratio="16:9", image_size="1K"),
    thinking_config=types.ThinkingConfig(thinking_level=types.ThinkingLevel.MINIMAL),
)


@pytest.fixture(autouse=True)
def _no_google_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "GOOGLE_API_KEY",
        "GEMINI_API_KEY",
        "GOOGLE_CLOUD_PROJECT",
        "GOOGLE_CLOUD_LOCATION",
        "GOOGLE_GENAI_API_VERSION",
        "GOOGLE_GENAI_USE_VERTEXAI",
        "GOOGLE_GEMINI_BASE_URL",
        "GOOGLE_VERTEX_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(params=["api_key", "vertex"])
def client(request: pytest.FixtureRequest, sim_url: str) -> Iterator[genai.Client]:
    if request.param == "api_key":
        sdk = genai.Client(
            api_key="sim-gemini-key",
            http_options=types.HttpOptions(base_url=f"{sim_url}/gemini"),
        )
    else:
        sdk = genai.Client(
            vertexai=True,
            project="sim-project",
            location="global",  # where Vertex serves Gemini 3 models
            # a token without expiry: the SDK never tries to refresh it
            credentials=google.oauth2.credentials.Credentials(token="sim-vertex-token"),  # type: ignore[no-untyped-call]
            http_options=types.HttpOptions(base_url=f"{sim_url}/vertex"),
        )
    yield sdk
    sdk.close()


def _images(response: types.GenerateContentResponse) -> list[bytes]:
    parts = response.parts or []
    return [p.inline_data.data for p in parts if p.inline_data and p.inline_data.data]


def test_generate_content_returns_an_image_from_the_simulator(client: genai.Client) -> None:
    response = client.models.generate_content(model=MODEL, contents=PROMPT, config=CONFIG)
    images = _images(response)
    assert len(images) == 1
    assert Image.open(io.BytesIO(images[0])).size == (1344, 768)
    assert response.model_version == MODEL
    assert response.response_id
    usage = response.usage_metadata
    assert usage is not None and usage.candidates_tokens_details is not None
    details = {d.modality: d.token_count for d in usage.candidates_tokens_details}
    assert details == {types.MediaModality.IMAGE: 1120}
    assert usage.prompt_token_count and usage.total_token_count


def test_a_no_image_answer_reads_as_its_finish_reason(client: genai.Client, sim_url: str) -> None:
    fake = "vertex" if client.vertexai else "gemini"
    set_behaviour(sim_url, f"{fake}:{MODEL}", variant="finish:NO_IMAGE")
    response = client.models.generate_content(model=MODEL, contents=PROMPT, config=CONFIG)
    assert response.candidates
    assert response.candidates[0].finish_reason == types.FinishReason.NO_IMAGE
    assert _images(response) == []
    set_behaviour(sim_url, f"{fake}:{MODEL}", variant="block:PROHIBITED_CONTENT")
    response = client.models.generate_content(model=MODEL, contents=PROMPT, config=CONFIG)
    assert response.prompt_feedback is not None
    assert response.prompt_feedback.block_reason == types.BlockedReason.PROHIBITED_CONTENT


def test_thought_parts_read_as_thoughts(client: genai.Client, sim_url: str) -> None:
    fake = "vertex" if client.vertexai else "gemini"
    set_behaviour(sim_url, f"{fake}:gemini-3-pro-image", variant="thoughts")
    response = client.models.generate_content(
        model="gemini-3-pro-image",
        contents=PROMPT,
        config=types.GenerateContentConfig(response_modalities=["IMAGE"]),
    )
    parts = response.parts or []
    assert [bool(p.thought) for p in parts] == [True, True, False]
    assert response.usage_metadata and response.usage_metadata.thoughts_token_count == 337


def test_the_sdk_reads_a_rejected_request_as_a_client_error(client: genai.Client) -> None:
    bad = types.GenerateContentConfig(
        response_modalities=["IMAGE"], image_config=types.ImageConfig(image_size="8K")
    )
    with pytest.raises(errors.ClientError) as rejected:
        client.models.generate_content(model=MODEL, contents=PROMPT, config=bad)
    assert (rejected.value.code, rejected.value.status) == (400, "INVALID_ARGUMENT")


# google-genai's own aiohttp session subclass warns on import; not ours to fix
@pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")
async def test_the_async_client_gets_an_image_too(client: genai.Client) -> None:
    try:
        aio = client.aio.models
        response = await aio.generate_content(model=MODEL, contents=PROMPT, config=CONFIG)
    finally:
        await client.aio.aclose()
    [image] = _images(response)
    assert Image.open(io.BytesIO(image)).size == (1344, 768)
    assert response.usage_metadata and response.usage_metadata.prompt_token_count
