"""The official openai SDK, pointed at the simulator with only its base URL changed."""

from __future__ import annotations

import base64
import io

import httpx
import openai
import pytest
from PIL import Image

from tests.conftest import set_behaviour


def client(sim_url: str, key: str = "sim-lumenfall-key") -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=f"{sim_url}/openai/v1", max_retries=0)


def test_the_openai_sdk_gets_an_image_as_b64_json(sim_url: str) -> None:
    response = client(sim_url).images.generate(
        model="imagen-4.0-fast-generate-001",
        prompt="a red cube",
        size="1024x1024",
        response_format="b64_json",
        n=1,
    )
    assert response.data is not None
    raw = base64.b64decode(response.data[0].b64_json or "")
    assert Image.open(io.BytesIO(raw)).size == (1024, 1024)


def test_the_openai_sdk_gets_an_image_url_it_can_download(sim_url: str) -> None:
    response = client(sim_url).images.generate(
        model="imagen-4.0-generate-001",
        prompt="a red cube",
        size="1024x768",
    )
    assert response.data is not None
    url = response.data[0].url or ""
    image = Image.open(io.BytesIO(httpx.get(url).content))
    assert image.size == (1024, 768)


def test_the_openai_sdk_lists_and_gets_models(sim_url: str) -> None:
    c = client(sim_url)
    assert "imagen-4.0-generate-001" in {m.id for m in c.models.list()}
    assert c.models.retrieve("imagen-4.0-ultra-generate-001").id == "imagen-4.0-ultra-generate-001"


def test_the_openai_sdk_raises_its_own_errors_for_simulated_failures(sim_url: str) -> None:
    with pytest.raises(openai.AuthenticationError):
        client(sim_url, key="wrong").images.generate(model="imagen-4.0-generate-001", prompt="x")
    set_behaviour(sim_url, "openai:imagen-4.0-generate-001", rate_limit_ratio=1.0)
    with pytest.raises(openai.RateLimitError):
        client(sim_url).images.generate(model="imagen-4.0-generate-001", prompt="x")
    set_behaviour(sim_url, "openai:imagen-4.0-generate-001", rate_limit_ratio=0.0, safety_ratio=1.0)
    with pytest.raises(openai.BadRequestError) as info:
        client(sim_url).images.generate(model="imagen-4.0-generate-001", prompt="x")
    assert info.value.code == "moderation_blocked"
    set_behaviour(sim_url, "openai:imagen-4.0-generate-001", retired=True)
    with pytest.raises(openai.NotFoundError):
        client(sim_url).images.generate(model="imagen-4.0-generate-001", prompt="x")


def test_the_openai_sdk_reads_the_account_answers_as_openai_sends_them(sim_url: str) -> None:
    openai_key = client(sim_url, key="sim-openai-key")
    set_behaviour(sim_url, "openai:gpt-image-2", account="exhausted")
    with pytest.raises(openai.RateLimitError) as quota:  # a 429 that no wait will clear
        openai_key.images.generate(model="gpt-image-2", prompt="x")
    assert quota.value.code == "insufficient_quota"
    set_behaviour(sim_url, "openai:gpt-image-2", account="billing")
    with pytest.raises(openai.BadRequestError) as billing:
        openai_key.images.generate(model="gpt-image-2", prompt="x")
    assert billing.value.code == "billing_hard_limit_reached"
    # Lumenfall's documented 402 has no class of its own in the SDK
    set_behaviour(sim_url, "openai:imagen-4.0-generate-001", account="exhausted")
    with pytest.raises(openai.APIStatusError) as balance:
        client(sim_url).images.generate(model="imagen-4.0-generate-001", prompt="x")
    assert (balance.value.status_code, balance.value.code) == (402, "INSUFFICIENT_BALANCE")


def test_the_openai_sdk_gets_a_gpt_image_as_b64_json_with_token_usage(sim_url: str) -> None:
    response = client(sim_url, key="sim-openai-key").images.generate(
        model="gpt-image-2", prompt="a red cube", size="1024x1024", quality="low", n=1
    )
    assert response.data is not None and response.data[0].url is None
    raw = base64.b64decode(response.data[0].b64_json or "")
    assert Image.open(io.BytesIO(raw)).size == (1024, 1024)
    assert response.usage is not None
    assert response.usage.output_tokens == 200
    assert response.usage.input_tokens_details.text_tokens == response.usage.input_tokens
    assert response.usage.total_tokens == response.usage.input_tokens + 200
    assert (response.quality, response.size, response.output_format) == ("low", "1024x1024", "png")
