"""Helpers for per-model pages (fal, Replicate): which target a page is for, page text."""

from __future__ import annotations

import re
from collections.abc import Sequence

from bs4 import BeautifulSoup

from monitor.interfaces import PriceParseError
from monitor.pricing.base import REMOVAL, PricingTarget

_MODEL_GONE = re.compile(
    r"\b(?:model|endpoint|version)\b[^.\n]{0,40}?" + REMOVAL.pattern, re.IGNORECASE
)


def visible_text(text: str) -> str:
    """Text of an HTML page (scripts dropped), or the text itself for Markdown."""
    if "<" not in text[:2000]:
        return text
    soup = BeautifulSoup(text, "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    return soup.get_text(" ", strip=True)


def _mentions(haystack: str, model: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(model)}(?![\w/-])", haystack) is not None


def _by_url(url: str, targets: Sequence[PricingTarget]) -> list[PricingTarget]:
    path = url.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    for suffix in ("/llms.txt", ".md", "/api"):
        path = path.removesuffix(suffix)
    return [t for t in targets if path.endswith("/" + t.provider_model) or path == t.provider_model]


def page_targets(
    kind: str, text: str, url: str, targets: Sequence[PricingTarget], *, hint: str = ""
) -> list[PricingTarget]:
    """The targets this one-model page is about, by the first that names a ``provider_model``:
    the fetched URL, ``hint`` (an id the page's data gives), the page's canonical URL, else
    the longest one the page mentions. Targets for other models are not this page's."""
    canonical = re.search(
        r"<(?:link|meta)[^>]+(?:rel=\"canonical\"|property=\"og:url\")[^>]*>", text[:50_000]
    )
    href = re.search(r"(?:href|content)=\"([^\"]+)\"", canonical.group()) if canonical else None
    for where in (url, hint, href.group(1) if href else ""):
        if where and (found := _by_url(where, targets)):
            return found
    named = [t for t in targets if _mentions(text, t.provider_model)]
    if not named:
        wanted = ", ".join(sorted({t.provider_model for t in targets}))
        raise PriceParseError(f"{kind}: the page names none of: {wanted}")
    longest = max(len(t.provider_model) for t in named)
    return [t for t in named if len(t.provider_model) == longest]


def model_gone(text: str) -> bool:
    """The page says the model itself is deprecated or retired."""
    return _MODEL_GONE.search(text) is not None
