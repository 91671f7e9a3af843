"""The live models each fake serves, and the per-model facts its answers need.

One dict per fake; a fake consults only its own. Token counts per image are what the real
provider reports for the probe's request, so a simulated answer prices the way a real one
does (sources beside each entry; UNCONFIRMED where only a third party says so). Models a
provider has shut down are not listed here: the fakes answer them as unknown, except the
seed's models, which the fakes keep serving for the retirement examples and older tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True, kw_only=True)
class ContentModel:
    """A Gemini image model on ``:generateContent``."""

    #: output image tokens per ``imageConfig.imageSize``; a size missing here is rejected
    image_tokens: dict[str, int]
    #: accepted ``thinkingConfig.thinkingLevel`` values; empty: the model rejects the field
    thinking_levels: tuple[str, ...] = ()
    #: thinking tokens reported per level (levels absent here report none)
    thoughts_tokens: dict[str, int] = field(default_factory=dict)
    #: Vertex AI serves it on the ``global`` location only (Gemini 3 models)
    vertex_global_only: bool = False


# Gemini API pricing (https://ai.google.dev/gemini-api/docs/pricing): 1120 image tokens per
# 1K/2K image for Gemini 3 image models, 2000 at 4K (also BerriAI/litellm PR #17554);
# 1290 per image for gemini-2.5-flash-image. Nano Banana 2.1's 2K/4K counts follow
# gemini-3.1-flash-image's (1680, 2520): UNCONFIRMED.
GOOGLE: dict[str, ContentModel] = {
    "gemini-nano-banana-2.1": ContentModel(
        image_tokens={"512": 747, "1K": 1120, "2K": 1680, "4K": 2520},
        thinking_levels=("MINIMAL", "HIGH"),
        thoughts_tokens={"HIGH": 412},
        vertex_global_only=True,
    ),
    "gemini-3-pro-image": ContentModel(
        image_tokens={"1K": 1120, "2K": 1120, "4K": 2000},
        # thinks always; 337 thought tokens in ding113/claude-code-hub#663's worked example
        thoughts_tokens={"": 337},
        vertex_global_only=True,
    ),
    "gemini-3.1-flash-lite-image": ContentModel(
        image_tokens={"1K": 1120}, thinking_levels=("MINIMAL",), vertex_global_only=True
    ),
    # retired 2026-10-02 and 2026-06-25; kept for the seed's examples and tests
    "gemini-2.5-flash-image": ContentModel(image_tokens={"1K": 1290}),
    "gemini-3-pro-image-preview": ContentModel(
        image_tokens={"1K": 1120, "2K": 1120, "4K": 2000}, thoughts_tokens={"": 337}
    ),
}


@dataclass(frozen=True, kw_only=True)
class ImagesModel:
    """A model on an OpenAI-shape Images API (``/images/generations``)."""

    #: output tokens per image per ``quality``; empty: the provider reports no usage
    output_tokens: dict[str, int] = field(default_factory=dict)
    #: True: answers ``b64_json`` only (GPT Image); False: ``url`` unless asked for b64
    b64_only: bool = False


# OpenAI model pages: gpt-image-2 at 1024x1024 costs $0.006 / $0.053 / $0.211 (low, medium,
# high) at $30 per 1M image output tokens, i.e. about 200 / 1,770 / 7,030 tokens
# (https://developers.openai.com/api/docs/models/gpt-image-2). The 2.5 and 2.6 counts are
# assumed equal: UNCONFIRMED (gpt-image-2.5 changed the counts per quality level).
_GPT_IMAGE_2 = {"low": 200, "medium": 1770, "high": 7030, "auto": 1770}
OPENAI: dict[str, ImagesModel] = {
    "gpt-image-2": ImagesModel(output_tokens=_GPT_IMAGE_2, b64_only=True),
    "gpt-image-2-2026-04-21": ImagesModel(output_tokens=_GPT_IMAGE_2, b64_only=True),
    "gpt-image-2.5-flare": ImagesModel(output_tokens=_GPT_IMAGE_2, b64_only=True),
    "gpt-image-2.5-sunburst": ImagesModel(output_tokens=_GPT_IMAGE_2, b64_only=True),
    "gpt-image-2.6-flare": ImagesModel(output_tokens=_GPT_IMAGE_2, b64_only=True),
    "gpt-image-2.6-sunburst": ImagesModel(output_tokens=_GPT_IMAGE_2, b64_only=True),
    # gpt-image-1.5 medium at 1024x1024: 1056 output tokens (BerriAI/litellm#18541)
    "gpt-image-1.5": ImagesModel(
        output_tokens={"low": 272, "medium": 1056, "high": 4160, "auto": 1056}, b64_only=True
    ),
    "gpt-image-1-mini": ImagesModel(
        output_tokens={"low": 272, "medium": 1056, "high": 4160, "auto": 1056}, b64_only=True
    ),
    # other OpenAI-shape providers share this fake (keys per provider): no usage, url answers
    "grok-imagine-image": ImagesModel(),
    "recraftv4_1": ImagesModel(),
    "seedream-5-0-flash-260915": ImagesModel(),
    "dola-seedream-5-0-pro-260628": ImagesModel(),
    # Lumenfall resells Gemini 3 Pro Image on its OpenAI-compatible API (llms.txt, S)
    "gemini-3-pro-image": ImagesModel(),
}


#: the OpenAI-shape providers that share the openai fake list only their own models, told
#: apart by key (model-id prefixes); OpenAI's and Lumenfall's keys see the whole list
OWN_MODELS: dict[str, tuple[str, ...]] = {
    "sim-xai-key": ("grok-",),
    "sim-recraft-key": ("recraft",),
    "sim-byteplus-key": ("seedream-", "dola-seedream-"),
}


@dataclass(frozen=True, kw_only=True)
class RouterModel:
    """A model on OpenRouter's image API: what one image costs, as ``usage.cost`` says."""

    cost_usd: Decimal
    #: token counts reported beside the cost (token-billed models), else none
    output_tokens: int | None = None


# OpenRouter prices per model (image-market-2026.md rows 4, 11, 17, 20; UNCONFIRMED)
OPENROUTER: dict[str, RouterModel] = {
    "google/gemini-nano-banana-2.1": RouterModel(cost_usd=Decimal("0.0336"), output_tokens=1120),
    "openai/gpt-image-2.5-sunburst": RouterModel(cost_usd=Decimal("0.006"), output_tokens=200),
    "black-forest-labs/flux-3-image": RouterModel(cost_usd=Decimal("0.048")),
    "bytedance-seed/seedream-4.5": RouterModel(cost_usd=Decimal("0.05")),
    "microsoft/mai-image-2.7": RouterModel(cost_usd=Decimal("0.0348"), output_tokens=1024),
}


@dataclass(frozen=True, kw_only=True)
class BflModel:
    """A FLUX endpoint on BFL's API (``POST /v1/{endpoint}``)."""

    #: cost of the first output megapixel (BFL's pricing page, "from" prices)
    usd_per_megapixel: Decimal


# https://docs.bfl.ai/quick_start/pricing (image-market-2026.md rows B1-B3)
BFL: dict[str, BflModel] = {
    "flux-2-pro": BflModel(usd_per_megapixel=Decimal("0.03")),
    "flux-2-max": BflModel(usd_per_megapixel=Decimal("0.07")),
    "flux-2-flex": BflModel(usd_per_megapixel=Decimal("0.05")),
    "flux-2-klein-4b": BflModel(usd_per_megapixel=Decimal("0.014")),
    "flux-2-klein-9b": BflModel(usd_per_megapixel=Decimal("0.015")),
}


# -- the live catalog at the fakes that already existed (fal, Replicate) --

#: fal endpoint id -> listed USD per unit (the fake's platform API answers it per image)
FAL = {
    "google/nano-banana-2.1": "0.04",
    "openai/gpt-image-2": "0.02",
    "fal-ai/flux-2-pro": "0.03",
    "fal-ai/bytedance/seedream/v4.5/text-to-image": "0.04",
    "xai/grok-imagine-image": "0.02",
    "microsoft/mai-image-2.7/text-to-image": "0.0348",
    "fal-ai/qwen-image": "0.02",
}
#: Replicate official models (``owner/name``)
REPLICATE = ("black-forest-labs/flux-2-pro",)
