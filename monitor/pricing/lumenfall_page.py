"""Lumenfall model page: https://lumenfall.ai/models/google/{model} and its ``/providers`` tab.

A "Starting from" line with the lowest per-image price, a "$$ · 2¢" badge, and one card per
provider with its config key, provider model id, an "Output Image" price ("$0.04 per image"
or "4¢ /image"), notes and an "As of" date. Prices sit in separate inline elements, and two
layouts exist (A/B test or redesign), so cards are found by the config key's text, not by
CSS classes: the key's nearest ancestor that also holds "Output Image". Prefer
``lumenfall_llms``; this page is the fallback.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from bs4 import BeautifulSoup, Tag

from monitor.interfaces import PriceParseError, PriceQuote, PriceUnit
from monitor.pricing._lumenfall import OWN_PROVIDER, STARTING, page_model
from monitor.pricing.base import REMOVAL, ParseResult, PriceSource, PricingTarget
from monitor.pricing.normalise import parse_price

_OUTPUT = re.compile(
    r"Output Image\s*:?\s*(?P<price>(?:US)?\$\s?\d[\d.,]*|\d[\d.,]*\s*(?:¢|cents?))"
    r"(?:\s*(?:/|per)\s*\w+)?",
    re.IGNORECASE,
)


def _card(soup: BeautifulSoup, key: str, model: str) -> Tag | None:
    """The largest element holding ``key`` and an "Output Image" price but no other key:
    the whole card, so its notes (a deprecation) are read too."""
    other_key = re.compile(rf"\b[\w-]+/{re.escape(model)}\b")
    card = None
    for string in soup.find_all(string=lambda s: s is not None and s.strip() == key):
        node = string.parent
        while isinstance(node, Tag):
            text = node.get_text(" ", strip=True)
            if len(set(other_key.findall(text))) > 1:
                break  # climbed past the card into the list of all cards
            if "output image" in text.casefold():
                card = node
            node = node.parent
        if card is not None:
            return card
    return None


class LumenfallPage(PriceSource):
    kind = "lumenfall_page"
    providers = ("vertex", "gemini", "fal", "replicate", "lumenfall")
    expects = "a provider card with the offering's config key and an Output Image price"

    def parse(
        self, text: str, *, targets: Sequence[PricingTarget], observed_at: dt.datetime, url: str
    ) -> ParseResult:
        soup = BeautifulSoup(text, "html.parser")
        for tag in soup(["script", "style", "noscript"]):
            tag.decompose()
        page = soup.get_text(" ", strip=True)
        if "output image" not in page.casefold():
            raise PriceParseError(f"{self.kind}: no provider card with an Output Image price")
        model = page_model(self.kind, text, url, targets)
        mine = [t for t in targets if t.model == model]
        quotes: dict[str, PriceQuote] = {}
        removed: set[str] = set()
        for target in mine:
            if target.provider == OWN_PROVIDER:
                found, card_text = STARTING.search(page), page
            else:
                card = _card(soup, target.offering, model)
                if card is None:
                    removed.add(target.offering)  # the page lists providers; this one is gone
                    continue
                card_text = card.get_text(" ", strip=True)
                if REMOVAL.search(card_text):
                    removed.add(target.offering)
                    continue
                found = _OUTPUT.search(card_text)
            if found is None:
                raise PriceParseError(f"{self.kind}: {target.offering}: no price on the page")
            try:
                amount, unit = parse_price(found.group(), default_unit=PriceUnit.IMAGE)
            except PriceParseError as exc:
                raise PriceParseError(f"{self.kind}: {target.offering}: {exc}") from None
            quotes[target.offering] = self.quote(
                target,
                amount,
                unit,
                observed_at=observed_at,
                url=url,
                evidence=card_text[:300],
                listed_text=found.group("price"),
            )
        return self.finish(mine, quotes, removed)
