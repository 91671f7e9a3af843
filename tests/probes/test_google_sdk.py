"""Google's own SDK (google-genai, Vertex mode) against the fake Vertex AI, base URL changed only.

If the official client reads the fake's answers and errors, the fake speaks Vertex's wire
format, not just the dialect provmon's probe expects. The SDK's default API version is
v1beta1, so this also covers that surface.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import google.oauth2.credentials
import pytest
from google import genai
from google.genai import errors, types
from PIL import Image

from tests.conftest import set_behaviour

MODEL = "imagen-4.0-generate-001"
TARGET = f"vertex:{MODEL}"
PROMPT = "a small red cube on a plain white table, studio light"

# generate_images is deprecated (Imagen is retired), which is the point of monitoring it
pytestmark = pytest.mark.filterwarnings("ignore:The generate_images method is deprecated")


@pytest.fixture()
def client(sim_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[genai.Client]:
    for name in (
        "GOOGLE_API_KEY",
        "GEMINI_API_KEY",
        "GOOGLE_CLOUD_PROJECT",
        "GOOGLE_CLOUD_LOCATION",
        "GOOGLE_GENAI_API_VERSION",
    ):
        monkeypatch.delenv(name, raising=False)
    sdk = genai.Client(
        vertexai=True,
        project="sim-project",
        location="us-central1",
        # a token without expiry: the SDK never tries to refresh it
        credentials=google.oauth2.credentials.Credentials(token="sim-vertex-token"),  # type: ignore[no-untyped-call]
        http_options=types.HttpOptions(base_url=f"{sim_url}/vertex"),
    )
    yield sdk
    sdk.close()


def test_generate_images_returns_an_image_from_the_simulator(client: genai.Client) -> None:
    response = client.models.generate_images(
        model=MODEL, prompt=PROMPT, config=types.GenerateImagesConfig(number_of_images=1)
    )
    assert response.generated_images is not None and len(response.generated_images) == 1
    image = response.generated_images[0].image
    assert image is not None and image.image_bytes is not None
    assert image.mime_type == "image/png"
    assert Image.open(io.BytesIO(image.image_bytes)).size == (1024, 1024)


def test_the_sdks_options_reach_the_fake_as_vertex_parameters(client: genai.Client) -> None:
    config = types.GenerateImagesConfig(
        number_of_images=2,
        aspect_ratio="16:9",
        output_mime_type="image/jpeg",
        output_compression_quality=50,
        enhance_prompt=False,
        include_rai_reason=True,
    )
    response = client.models.generate_images(model=MODEL, prompt=PROMPT, config=config)
    images = [g.image for g in response.generated_images or []]
    assert len(images) == 2
    assert images[0] is not None and images[0].image_bytes is not None
    picture = Image.open(io.BytesIO(images[0].image_bytes))
    assert (picture.format, picture.size) == ("JPEG", (1408, 768))


def test_a_filtered_image_shows_its_rai_reason_in_the_sdk(
    client: genai.Client, sim_url: str
) -> None:
    set_behaviour(sim_url, TARGET, safety_ratio=1.0)
    config = types.GenerateImagesConfig(number_of_images=1, include_rai_reason=True)
    response = client.models.generate_images(model=MODEL, prompt=PROMPT, config=config)
    generated = response.generated_images or []
    assert len(generated) == 1
    assert generated[0].image is None or generated[0].image.image_bytes is None
    assert generated[0].rai_filtered_reason


def test_the_sdk_reads_the_fakes_errors_including_the_array_form(
    client: genai.Client, sim_url: str
) -> None:
    set_behaviour(sim_url, TARGET, retired=True)
    with pytest.raises(errors.ClientError) as gone:
        client.models.generate_images(model=MODEL, prompt=PROMPT)
    assert (gone.value.code, gone.value.status) == (404, "NOT_FOUND")
    set_behaviour(sim_url, TARGET, retired=False, outage="unavailable")
    with pytest.raises(errors.ServerError) as down:  # the fake wraps 503s in an array
        client.models.generate_images(model=MODEL, prompt=PROMPT)
    assert (down.value.code, down.value.status) == (503, "UNAVAILABLE")


def test_models_get_reads_the_publisher_model(client: genai.Client) -> None:
    model = client.models.get(model=MODEL)
    assert model.name == f"publishers/google/models/{MODEL}"
    assert model.version == "001"


def test_the_sdk_reads_the_prompt_block_and_account_answers(
    client: genai.Client, sim_url: str
) -> None:
    set_behaviour(sim_url, TARGET, filter="prompt_block")
    with pytest.raises(errors.ClientError) as blocked:  # a 400, not a 200 with filtered slots
        client.models.generate_images(model=MODEL, prompt=PROMPT)
    assert (blocked.value.code, blocked.value.status) == (400, "INVALID_ARGUMENT")
    assert "Support codes" in (blocked.value.message or "")
    set_behaviour(sim_url, TARGET, filter=None, account="billing")
    with pytest.raises(errors.ClientError) as billing:
        client.models.generate_images(model=MODEL, prompt=PROMPT)
    assert (billing.value.code, billing.value.status) == (403, "PERMISSION_DENIED")
    assert billing.value.details["error"]["details"][0]["reason"] == "BILLING_DISABLED"
