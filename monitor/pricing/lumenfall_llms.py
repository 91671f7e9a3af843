"""Lumenfall per-model ``llms.txt``: https://lumenfall.ai/models/google/{model}/llms.txt

One file prices a model at every provider Lumenfall routes to. Per provider it gives a
Config Key (``fal/imagen-4.0-generate-001``, our offering id), the provider model id, a
region and a Pricing block: source, currency, components carrying ``"unit_price" => 0.04``
in Ruby-hash syntax, a source URL and ``effective_at``. Some files (Ultra) print a compact
one-line ``Pricing: $0.060/image`` instead; both are accepted. A provider block gone from a
file that still lists others means Lumenfall no longer routes there: removed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from monitor.interfaces import PriceParseError, PriceQuote, PriceUnit
from monitor.pricing._lumenfall import OWN_PROVIDER, STARTING, page_model
from monitor.pricing.base import REMOVAL, ParseResult, PriceSource, PricingTarget
from monitor.pricing.normalise import parse_amount, parse_price, parse_unit

_KEY = re.compile(r"Config Key\s*:\s*`?(?P<key>[\w.-]+/[\w./-]+?)`?\s*$", re.I | re.M)
_PAIR = re.compile(r"[\"':]?(\w+)\"?\s*=>\s*(?:\"([^\"]*)\"|'([^']*)'|([-\w.]+))")
_COMPONENT = re.compile(r"\{[^{}]*=>[^{}]*\}")
_COMPACT = re.compile(r"Pricing\s*:\s*(?P<price>\S[^\n]*\d[^\n]*)$", re.I | re.M)
_CURRENCY = re.compile(r"Currency\s*:\s*(\w+)", re.I)


class LumenfallLlms(PriceSource):
    kind = "lumenfall_llms"
    providers = ("vertex", "gemini", "fal", "replicate", "lumenfall")
    expects = "a provider block with its Config Key and a Pricing block"

    def parse(
        self, text: str, *, targets: Sequence[PricingTarget], observed_at: dt.datetime, url: str
    ) -> ParseResult:
        blocks = list(_KEY.finditer(text))
        if not blocks:
            raise PriceParseError(f"{self.kind}: no 'Config Key:' provider blocks")
        model = page_model(self.kind, text, url, targets)
        mine = [t for t in targets if t.model == model]
        quotes: dict[str, PriceQuote] = {}
        removed: set[str] = set()
        for index, found in enumerate(blocks):
            end = blocks[index + 1].start() if index + 1 < len(blocks) else len(text)
            block = text[found.start() : end]
            for target in (t for t in mine if t.offering == found.group("key")):
                if REMOVAL.search(block):
                    removed.add(target.offering)
                else:
                    quotes[target.offering] = self._quote(target, block, observed_at, url)
        for target in (t for t in mine if t.provider == OWN_PROVIDER):
            if target.offering not in quotes and (start := STARTING.search(text)):
                amount, unit = parse_price(start.group(), default_unit=PriceUnit.IMAGE)
                quotes[target.offering] = self.quote(
                    target,
                    amount,
                    unit,
                    observed_at=observed_at,
                    url=url,
                    evidence=start.group(),
                    listed_text=start.group("price"),
                )
        # the file lists providers, so a provider block gone from it is a removal
        removed |= {t.offering for t in mine if t.provider != OWN_PROVIDER} - quotes.keys()
        return self.finish(mine, quotes, removed)

    def _quote(
        self, target: PricingTarget, block: str, observed_at: dt.datetime, url: str
    ) -> PriceQuote:
        currency = _CURRENCY.search(block)
        if currency and currency.group(1).upper() != "USD":
            raise PriceParseError(f"{self.kind}: {target.offering} priced in {currency.group(1)}")
        for component in _COMPONENT.findall(block):
            pairs = {m[0]: m[1] or m[2] or m[3] for m in _PAIR.findall(component)}
            if "unit_price" in pairs and pairs.get("type", "output") == "output":
                try:
                    amount = parse_amount(pairs["unit_price"])
                    unit = parse_unit(pairs.get("metric") or pairs.get("unit") or "image")
                except PriceParseError as exc:
                    raise PriceParseError(f"{self.kind}: {target.offering}: {exc}") from None
                return self.quote(
                    target,
                    amount,
                    unit,
                    observed_at=observed_at,
                    url=url,
                    evidence=" ".join(block.split()),
                    listed_text=component,
                )
        compact = _COMPACT.search(block)
        if compact is None:
            raise PriceParseError(f"{self.kind}: {target.offering}: no unit_price or Pricing line")
        try:
            amount, unit = parse_price(compact.group("price"))
        except PriceParseError as exc:
            raise PriceParseError(f"{self.kind}: {target.offering}: {exc}") from None
        return self.quote(
            target,
            amount,
            unit,
            observed_at=observed_at,
            url=url,
            evidence=" ".join(block.split()),
            listed_text=compact.group("price"),
        )
