"""Replicate model page: https://replicate.com/{owner}/{name} (e.g. ``google/imagen-4``).

Official models bill per output image. The page is reportedly client-side rendered: the
data sits in embedded JSON (``script[id^="react-component-props"]`` or ``__NEXT_DATA__``)
and whether a price is in it is UNCONFIRMED, so any embedded object with a price key and a
unit is accepted, then a visible "$0.04 per output image". A shell with neither is a parse
failure, never $0. The models API (``/v1/models/{owner}/{name}``) documents no price.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from bs4 import BeautifulSoup

from monitor.interfaces import PriceParseError, PriceQuote, PriceUnit
from monitor.pricing._pages import model_gone, page_targets, visible_text
from monitor.pricing.base import ParseResult, PriceSource, PricingTarget
from monitor.pricing.normalise import PriceFormatError, parse_amount, parse_price, parse_unit

_PRICE_KEYS = ("price", "unit_price", "price_per_unit", "cost_per_unit", "output_price")
_UNIT_KEYS = ("unit", "metric", "billing_unit", "per", "title", "description")
_VISIBLE = r"\$\s?\d[\d.,]*\s*(?:/|per)\s*(?:output\s+)?(?:image|megapixel|second)s?"


def _embedded(soup: BeautifulSoup) -> Iterator[Any]:
    for script in soup.find_all("script"):
        ident, kind = str(script.get("id") or ""), str(script.get("type") or "")
        if ident.startswith("react-component-props") or ident == "__NEXT_DATA__" or "json" in kind:
            try:
                yield json.loads(script.string or "", parse_float=Decimal)
            except (ValueError, RecursionError):
                continue


def _walk(node: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    if depth > 40:
        return
    if isinstance(node, dict):
        yield node
        children: Any = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return
    for child in children:
        yield from _walk(child, depth + 1)


def _unit(text: str) -> PriceUnit:
    try:
        return parse_unit(text)
    except PriceFormatError:
        # metric names such as "image_output_count" or titles such as "per output image"
        for unit in PriceUnit:
            if unit.value in text.casefold():
                return unit
        raise


class ReplicatePage(PriceSource):
    kind = "replicate_page"
    providers = ("replicate",)
    expects = "a per-output price in the model page's embedded JSON or text"

    def parse(
        self, text: str, *, targets: Sequence[PricingTarget], observed_at: dt.datetime, url: str
    ) -> ParseResult:
        soup = BeautifulSoup(text, "html.parser")
        objects = [o for data in _embedded(soup) for o in _walk(data)]
        owner = next((o for o in objects if {"owner", "name"} <= o.keys()), {})
        hint = f"{owner.get('owner')}/{owner.get('name')}" if owner else ""
        mine = page_targets(self.kind, text, url, targets, hint=hint)
        body = visible_text(text)
        flagged = owner.get("deprecated") is True or owner.get("is_deprecated") is True
        if flagged or model_gone(body):
            return ParseResult(removed=[t.offering for t in mine])
        amount, unit, evidence = self._find(objects, body)
        quotes: dict[str, PriceQuote] = {
            t.offering: self.quote(
                t,
                amount,
                unit,
                observed_at=observed_at,
                url=url,
                evidence=evidence,
                listed_text=evidence,
            )
            for t in mine
        }
        return self.finish(mine, quotes, ())

    def _find(self, objects: list[dict[str, Any]], body: str) -> tuple[Decimal, PriceUnit, str]:
        for obj in objects:
            key = next((k for k in _PRICE_KEYS if k in obj), None)
            unit_key = next((k for k in _UNIT_KEYS if isinstance(obj.get(k), str)), None)
            if key is None or unit_key is None or isinstance(obj[key], bool | dict | list):
                continue
            price, unit_text = obj[key], str(obj[unit_key])
            try:
                amount = parse_amount(str(price) if isinstance(price, str) else f"{price:f}")
                return amount, _unit(unit_text), json.dumps(obj, default=str, sort_keys=True)
            except PriceParseError as exc:
                raise PriceParseError(f"{self.kind}: embedded price {obj!r}: {exc}") from None
        found = re.search(_VISIBLE, body, re.IGNORECASE)
        if found is None:
            raise PriceParseError(
                f"{self.kind}: no price in embedded JSON or text (client-rendered shell?)"
            )
        amount, unit = parse_price(found.group())
        return amount, unit, found.group()
