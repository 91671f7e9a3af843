"""Pricing sources: one module per page or file kind, and ``SOURCES``, the only list of them.

Config validation and the CLI derive their choices from ``SOURCES``; the fetch layer
instantiates ``SOURCES[kind]()`` and never imports a source module by name.
"""

from __future__ import annotations

from monitor.pricing.base import ParseResult, PriceSource, PricingTarget
from monitor.pricing.bfl_pricing import BflPricing
from monitor.pricing.fal_page import FalPage
from monitor.pricing.fal_pricing_api import FalPricingApi
from monitor.pricing.gemini_markdown import GeminiMarkdown
from monitor.pricing.gemini_tokens import GeminiTokens
from monitor.pricing.google_page import GeminiPage, VertexPage
from monitor.pricing.litellm_json import LitellmJson
from monitor.pricing.lumenfall_llms import LumenfallLlms
from monitor.pricing.lumenfall_page import LumenfallPage
from monitor.pricing.openai_model_page import OpenAIModelPage
from monitor.pricing.openrouter_endpoints import OpenRouterEndpoints
from monitor.pricing.replicate_page import ReplicatePage

SOURCES: dict[str, type[PriceSource]] = {
    source.kind: source
    for source in (
        GeminiPage,
        GeminiMarkdown,
        VertexPage,
        FalPage,
        FalPricingApi,
        ReplicatePage,
        LumenfallLlms,
        LumenfallPage,
        LitellmJson,
        GeminiTokens,
        OpenAIModelPage,
        OpenRouterEndpoints,
        BflPricing,
    )
}

__all__ = ["SOURCES", "ParseResult", "PriceSource", "PricingTarget"]
