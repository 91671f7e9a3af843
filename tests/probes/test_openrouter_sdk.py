"""OpenRouter's official Python SDK (``openrouter``) against the fake, server URL changed only:
the SDK validates every answer with its own models, so the fake's shapes are OpenRouter's."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import pytest
from openrouter import OpenRouter, components, errors
from PIL import Image

from tests.conftest import set_behaviour

SLUG = "google/gemini-nano-banana-2.1"


@pytest.fixture()
def client(sim_url: str) -> Iterator[OpenRouter]:
    with OpenRouter(api_key="sim-openrouter-key", server_url=f"{sim_url}/openrouter/api/v1") as sdk:
        yield sdk


def test_images_generate_returns_an_image_with_its_cost(client: OpenRouter) -> None:
    answer = client.images.generate(model=SLUG, prompt="a red cube", aspect_ratio="16:9")
    assert isinstance(answer, components.ImageGenerationResponse)
    assert len(answer.data) == 1 and answer.data[0].media_type == "image/png"
    picture = Image.open(io.BytesIO(base64.b64decode(answer.data[0].b64_json)))
    assert picture.size == (1344, 768)
    assert answer.usage is not None and answer.usage.cost == pytest.approx(0.0336)
    details = answer.usage.completion_tokens_details
    assert details is not None and details.image_tokens == 1120


def test_the_image_model_listing_and_its_endpoints_read_in_the_sdk(client: OpenRouter) -> None:
    listing = client.images.list_models()
    assert SLUG in {m.id for m in listing.data}
    author, slug = SLUG.split("/")
    endpoints = client.images.list_model_endpoints(author=author, slug=slug)
    pricing = endpoints.endpoints[0].pricing[0]
    assert (pricing.billable, pricing.unit) == ("output_image", "token")
    assert pricing.cost_usd * 1120 == pytest.approx(0.0336)


def test_the_sdk_raises_its_own_errors_for_the_fakes_failures(
    client: OpenRouter, sim_url: str
) -> None:
    set_behaviour(sim_url, f"openrouter:{SLUG}", variant="credits")
    with pytest.raises(errors.PaymentRequiredResponseError) as spent:
        client.images.generate(model=SLUG, prompt="a red cube")
    assert spent.value.data.error.code == 402
    set_behaviour(sim_url, f"openrouter:{SLUG}", variant=None, safety_ratio=1.0)
    with pytest.raises(errors.ForbiddenResponseError):
        client.images.generate(model=SLUG, prompt="a red cube")
    with pytest.raises(errors.BadRequestResponseError):
        client.images.generate(model="acme/not-a-model", prompt="a red cube")
    wrong = OpenRouter(api_key="sk-or-v1-wrong", server_url=f"{sim_url}/openrouter/api/v1")
    with wrong, pytest.raises(errors.UnauthorizedResponseError):
        wrong.images.generate(model=SLUG, prompt="a red cube")
