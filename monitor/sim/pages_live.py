"""Simulated pricing pages of today's models (the live catalog), beside ``pages.py``'s Imagen 4.

The Gemini API pricing Markdown gains a section per token-priced Gemini image model; OpenAI
model pages (``.md``), OpenRouter's image endpoints listing, BFL's pricing Markdown, and
today's entries of fal's pricing API, LiteLLM's price file and Lumenfall's ``llms.txt``.
Shapes follow the parsers' documented sources (see each ``monitor/pricing`` module). Each
offering has one main price per source, changeable with ``POST /_sim/price`` like the
Imagen rows: the image-output rate per single token for token-priced pages, else the price
per image (or per megapixel where the source lists that). Other units are fixed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route


class PageState(Protocol):
    """What these pages read of the simulator's page state (``monitor.sim.pages``)."""

    removed: dict[str, set[str]]

    def price(self, source: str, offering: str) -> Decimal: ...


M = Decimal(1_000_000)
#: (source kind, offering) -> the page's main price (see the module docstring)
DEFAULTS: dict[tuple[str, str], Decimal] = {
    ("gemini_tokens", "gemini/gemini-nano-banana-2.1"): Decimal("0.00003"),
    ("gemini_tokens", "gemini/gemini-3-pro-image"): Decimal("0.00012"),
    ("gemini_tokens", "gemini/gemini-3.1-flash-lite-image"): Decimal("0.00003"),
    ("openai_model_page", "openai/gpt-image-2"): Decimal("0.00003"),
    ("openai_model_page", "openai/gpt-image-2.5-sunburst"): Decimal("0.00003"),
    ("openai_model_page", "openai/gpt-image-2.6-flare"): Decimal("0.00003"),
    ("openrouter_endpoints", "openrouter/seedream-4.5"): Decimal("0.05"),
    ("openrouter_endpoints", "openrouter/gemini-nano-banana-2.1"): Decimal("0.0336"),
    ("openrouter_endpoints", "openrouter/gpt-image-2.5-sunburst"): Decimal("0.00003"),
    ("openrouter_endpoints", "openrouter/mai-image-2.7"): Decimal("0.000034"),
    ("bfl_pricing", "bfl/flux-2-pro"): Decimal("0.03"),
    ("bfl_pricing", "bfl/flux-2-klein-4b"): Decimal("0.014"),
    ("lumenfall_llms", "lumenfall/gemini-3-pro-image"): Decimal("0.134"),
}
#: fal endpoint -> (offering, default unit price, fal unit)
FAL = {
    "google/nano-banana-2.1": ("fal/gemini-nano-banana-2.1", Decimal("0.04"), "images"),
    "openai/gpt-image-2": ("fal/gpt-image-2", Decimal("0.02"), "images"),
    "fal-ai/flux-2-pro": ("fal/flux-2-pro", Decimal("0.03"), "megapixels"),
    "fal-ai/bytedance/seedream/v4.5/text-to-image": ("fal/seedream-4.5", Decimal("0.04"), "images"),
    "xai/grok-imagine-image": ("fal/grok-imagine-image", Decimal("0.02"), "images"),
    "microsoft/mai-image-2.7/text-to-image": ("fal/mai-image-2.7", Decimal("0.0348"), "images"),
    "fal-ai/qwen-image": ("fal/qwen-image", Decimal("0.02"), "images"),
}
DEFAULTS |= {("fal_pricing_api", o): p for o, p, _ in FAL.values()}
#: providers each new source lists, for ``/_sim/price`` and ``/_sim/page``
SOURCE_PROVIDERS = {
    "gemini_tokens": ("gemini",),
    "openai_model_page": ("openai",),
    "openrouter_endpoints": ("openrouter",),
    "bfl_pricing": ("bfl",),
}
#: Gemini sections: (heading, model id, text rate per 1M, input rate per 1M)
_GEMINI = (
    ("Gemini 3 Pro Image", "gemini-3-pro-image", "12.00", "2.00"),
    ("Nano Banana 2.1", "gemini-nano-banana-2.1", "7.50", "1.50"),
    ("Nano Banana 2 Lite", "gemini-3.1-flash-lite-image", "", "0.50"),
)
_OPENAI = {"gpt-image-2": "GPT Image 2", "gpt-image-2.5-sunburst": "GPT Image 2.5 Sunburst"}
_OPENAI |= {"gpt-image-2.6-flare": "GPT Image 2.6 Flare"}
#: OpenRouter model id -> (offering, provider name, billable unit)
_OPENROUTER = {
    "bytedance-seed/seedream-4.5": ("openrouter/seedream-4.5", "Bytedance", "image"),
    "google/gemini-nano-banana-2.1": ("openrouter/gemini-nano-banana-2.1", "Google", "image"),
    "openai/gpt-image-2.5-sunburst": ("openrouter/gpt-image-2.5-sunburst", "OpenAI", "token"),
    "microsoft/mai-image-2.7": ("openrouter/mai-image-2.7", "Azure", "token"),
}
_BFL = (("FLUX.2 \\[klein] 4B", "bfl/flux-2-klein-4b"), ("FLUX.2 \\[pro]", "bfl/flux-2-pro"))


def _gone(state: PageState, source: str, offering: str) -> bool:
    return offering in state.removed.get(source, set())


def gemini_sections(state: PageState) -> str:
    """Today's token-priced sections of the Gemini pricing Markdown."""
    out = []
    for heading, model, text_rate, input_rate in _GEMINI:
        offering = f"gemini/{model}"
        if _gone(state, "gemini_tokens", offering):
            continue
        per_m = state.price("gemini_tokens", offering) * M
        text = f"${text_rate} (text and thinking) " if text_rate else ""
        out.append(
            f"## {heading}\n\n*`{model}`*\n\n### Standard\n\n"
            "|  | Free Tier | Paid Tier, per 1M tokens in USD |\n|---|---|---|\n"
            f"| Input price | Not available | ${input_rate} (text/image) |\n"
            f"| Output price | Not available | {text}${per_m:.2f} (images)\\* |\n\n"
            f"\\*Image output is priced at ${per_m:.2f} per 1,000,000 tokens. Output images "
            f"up to 1024x1024px (1K) consume 1120 tokens and are equivalent to "
            f"${per_m * 1120 / M:.4f} per image.\n\n"
        )
    return "".join(out)


def openai_model_md(state: PageState, model: str) -> str | None:
    title, offering = _OPENAI.get(model), f"openai/{model}"
    if title is None:
        return None
    per_m = state.price("openai_model_page", offering) * M
    low = state.price("openai_model_page", offering) * 200  # tokens of a low 1024x1024 image
    status = (
        "Deprecated: shut down soon.\n\n" if _gone(state, "openai_model_page", offering) else ""
    )
    return (
        f"# {title}\n\n`{model}`\n\n{status}Image generation model.\n\n## Pricing\n\n"
        "### Text tokens\n\nPer 1M tokens\n\n|  | Price |\n|---|---|\n| Input | $5.00 |\n"
        "| Cached input | $1.25 |\n\n### Image tokens\n\nPer 1M tokens\n\n|  | Price |\n"
        f"|---|---|\n| Input | $8.00 |\n| Output | ${per_m:.2f} |\n\n### Image generation\n\n"
        "Per image\n\n| Quality | 1024x1024 | 1024x1536 |\n|---|---|---|\n"
        f"| Low | ${low:.3f} | ${low:.3f} |\n"
    )


def openrouter_endpoints(state: PageState, model: str) -> dict[str, Any] | None:
    found = _OPENROUTER.get(model)
    if found is None:
        return None
    offering, provider, unit = found
    price = state.price("openrouter_endpoints", offering)
    endpoints = [
        {
            "provider_name": provider,
            "provider_slug": provider.lower(),
            "pricing": [{"billable": "output_image", "cost_usd": float(price), "unit": unit}],
            "supports_streaming": False,
        }
    ]
    gone = _gone(state, "openrouter_endpoints", offering)
    return {"data": {"id": model, "endpoints": [] if gone else endpoints}}


def bfl_markdown(state: PageState) -> str:
    rows = "".join(
        f"| {label} | from \\${state.price('bfl_pricing', o)} | from \\$0.045 | Production |\n"
        for label, o in _BFL
        if not _gone(state, "bfl_pricing", o)
    )
    return (
        "# Overview\n\n> Credit-based pricing for all FLUX models. 1 credit equals $0.01 USD.\n\n"
        "## Pricing\n\n### FLUX.2 Models\n\nFLUX.2 uses **megapixel-based pricing**.\n\n"
        "| Model | Text-to-Image | Image Editing | Best For |\n|---|---|---|---|\n"
        f"{rows}| FLUX.2 \\[dev] | Local only | Local only | Open weights |\n"
    )


def fal_prices(state: PageState, endpoints: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "endpoint_id": e,
            "unit_price": float(state.price("fal_pricing_api", offering)),
            "unit": unit,
            "currency": "USD",
        }
        for e, (offering, _, unit) in FAL.items()
        if e in endpoints and not _gone(state, "fal_pricing_api", offering)
    ]


def litellm_entries(state: PageState) -> dict[str, Any]:
    """Token-priced entries as LiteLLM lists them (``gpt-image-2`` under its bare id)."""
    out: dict[str, Any] = {}
    for provider, prefix in (("gemini", "gemini/"), ("vertex", "vertex_ai/")):
        for model, image_rate, text_rate in (
            ("gemini-nano-banana-2.1", 3e-05, 7.5e-06),
            ("gemini-3-pro-image", 0.00012, 1.2e-05),
        ):
            if not _gone(state, "litellm_json", f"{provider}/{model}"):
                out[prefix + model] = {
                    "mode": "image_generation",
                    "litellm_provider": provider,
                    "input_cost_per_token": 2e-06,
                    "output_cost_per_token": text_rate,
                    "output_cost_per_image_token": image_rate,
                }
    if not _gone(state, "litellm_json", "openai/gpt-image-2"):
        out["gpt-image-2"] = {
            "mode": "image_generation",
            "litellm_provider": "openai",
            "input_cost_per_token": 5e-06,
            "input_cost_per_image_token": 8e-06,
            "output_cost_per_image_token": 3e-05,
        }
    return out


def lumenfall_llms(state: PageState, model: str) -> str | None:
    offering = f"lumenfall/{model}"
    if ("lumenfall_llms", offering) not in DEFAULTS:
        return None
    price = state.price("lumenfall_llms", offering)
    return (
        f"# {model}\n\n- Model ID: {model}\n- Starting from: ${price} per image\n\n"
        f"## Providers\n\n### lumenfall\n- Config Key: {offering}\n- Provider Model ID: {model}\n"
        "- Region: global\n- Pricing:\n  - Source: official\n  - Currency: USD\n  - Components: "
        f'[{{"type" => "output", "metric" => "image", "unit_price" => {price}}}]\n'
        "  - Effective At: 2026-11-20\n"
    )


def routes(
    state: PageState, page: Callable[[str, str, Callable[[], str]], Response]
) -> list[Route]:
    """Routes of the new pages; ``page`` applies the ``/_sim/page`` modes as for the others."""
    text, js = "text/plain; charset=utf-8", "application/json"

    def missing() -> Response:
        return PlainTextResponse("Not found", status_code=404)

    async def openai_page(request: Request) -> Response:
        model = str(request.path_params["model"]).removesuffix(".md")
        body = openai_model_md(state, model)
        return missing() if body is None else page("openai_model_page", text, lambda: body)

    async def openrouter(request: Request) -> Response:
        body = openrouter_endpoints(state, str(request.path_params["model"]))
        if body is None:
            return JSONResponse({"error": {"code": 404, "message": "Model not found"}}, 404)
        return page("openrouter_endpoints", js, lambda: json.dumps(body))

    async def bfl(request: Request) -> Response:
        return page("bfl_pricing", text, lambda: bfl_markdown(state))

    return [
        Route("/pages/openai/models/{model}", openai_page, methods=["GET"]),
        Route(
            "/pages/openrouter/api/v1/images/models/{model:path}/endpoints",
            openrouter,
            methods=["GET"],
        ),
        Route("/pages/bfl/quick_start/pricing.md", bfl, methods=["GET"]),
    ]
