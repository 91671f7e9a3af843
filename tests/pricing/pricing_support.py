"""Shared by the pricing tests: targets built from the default catalog like the service does."""

from __future__ import annotations

import datetime as dt
from functools import cache

from monitor.catalogs import load_catalog
from monitor.pricing import SOURCES
from monitor.pricing.base import PricingTarget
from monitor.pricing.targets import targets_for_offerings

MODELS = (
    "imagen-4.0-fast-generate-001",
    "imagen-4.0-generate-001",
    "imagen-4.0-ultra-generate-001",
)
FAL = ("fal-ai/imagen4/preview/fast", "fal-ai/imagen4/preview", "fal-ai/imagen4/preview/ultra")
REPLICATE = ("google/imagen-4-fast", "google/imagen-4", "google/imagen-4-ultra")
PROVIDER_MODELS = {
    **{f"fal/{m}": e for m, e in zip(MODELS, FAL, strict=True)},
    **{f"replicate/{m}": r for m, r in zip(MODELS, REPLICATE, strict=True)},
}
#: sources of today's models: the live-catalog offerings each is asked to price
LIVE = {
    "gemini_tokens": (
        "gemini/gemini-nano-banana-2.1",
        "gemini/gemini-3-pro-image",
        "gemini/gemini-3.1-flash-lite-image",
    ),
    "openai_model_page": ("openai/gpt-image-2",),
    "openrouter_endpoints": ("openrouter/seedream-4.5",),
    "bfl_pricing": ("bfl/flux-2-pro", "bfl/flux-2-klein-4b"),
}
LIVE_PROVIDER_MODELS = {"openrouter/seedream-4.5": "bytedance-seed/seedream-4.5"}
OBSERVED = dt.datetime(2026, 2, 1, 12, 0, tzinfo=dt.UTC)


def targets(kind: str) -> list[PricingTarget]:
    return list(_targets(kind))


@cache
def _targets(kind: str) -> tuple[PricingTarget, ...]:
    if kind in LIVE:
        return tuple(targets_for_offerings(load_catalog("live"), LIVE[kind], LIVE_PROVIDER_MODELS))
    # each source is asked to price the offerings of the providers it declares it lists
    ids = [f"{p}/{m}" for p in SOURCES[kind].providers for m in MODELS]
    return tuple(targets_for_offerings(load_catalog("imagen4"), ids, PROVIDER_MODELS))
