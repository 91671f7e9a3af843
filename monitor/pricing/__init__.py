"""Pricing sources: one module per page or file kind, and ``SOURCES``, the only list of them.

Config validation and the CLI derive their choices from ``SOURCES``; the fetch layer
instantiates ``SOURCES[kind]()`` and never imports a source module by name.
"""

from __future__ import annotations

from monitor.pricing.base import ParseResult, PriceSource, PricingTarget
from monitor.pricing.fal_page import FalPage
from monitor.pricing.fal_pricing_api import FalPricingApi
from monitor.pricing.gemini_markdown import GeminiMarkdown
from monitor.pricing.google_page import GeminiPage, VertexPage
from monitor.pricing.litellm_json import LitellmJson
from monitor.pricing.lumenfall_llms import LumenfallLlms
from monitor.pricing.lumenfall_page import LumenfallPage
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
    )
}

__all__ = ["SOURCES", "ParseResult", "PriceSource", "PricingTarget"]
