"""fal Platform pricing API: ``GET https://api.fal.ai/v1/models/pricing?endpoint_id=<id>[,...]``.

Needs ``Authorization: Key <FAL_KEY>``; answers ``{"prices": [{"endpoint_id", "unit_price",
"unit", "currency"}], "has_more", "next_cursor"}``. fal treats this as authoritative over its
docs pages. Prices may be account-specific (custom pricing, discounts). Units include images,
megapixels, requests, videos, seconds and credits; only the first three map to our units.
Whether several IDs are sent comma-joined or repeated is taken from fal's docs as
comma-joined (UNCONFIRMED beyond the docs).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from monitor.interfaces import PriceParseError, PriceQuote
from monitor.pricing.base import ParseResult, Plan, PriceSource, PricingTarget
from monitor.pricing.normalise import SANE_MAX, PriceFormatError, parse_amount, parse_unit

#: fal accepts 1-50 endpoint IDs per call
_BATCH = 50


class FalPricingApi(PriceSource):
    kind = "fal_pricing_api"
    providers = ("fal",)
    expects = "a prices[] entry whose endpoint_id is the offering's provider model"
    credential_provider = "fal"

    def plan(self, url: str, targets: Sequence[PricingTarget]) -> Plan:
        plans: Plan = []
        joiner = "&" if "?" in url else "?"
        for start in range(0, len(targets), _BATCH):
            batch = list(targets[start : start + _BATCH])
            ids = ",".join(dict.fromkeys(t.provider_model for t in batch))
            plans.append((f"{url}{joiner}{urlencode({'endpoint_id': ids})}", batch))
        return plans

    def headers(self, credential: str | None) -> dict[str, str]:
        return {"Authorization": f"Key {credential}"} if credential else {}

    def parse(
        self, text: str, *, targets: Sequence[PricingTarget], observed_at: dt.datetime, url: str
    ) -> ParseResult:
        try:
            # parse_float keeps listed digits exactly (0.0398 must not become a binary float)
            data: Any = json.loads(text, parse_float=Decimal)
        except (ValueError, RecursionError) as exc:
            raise PriceParseError(f"{self.kind}: not JSON: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("prices"), list):
            raise PriceParseError(f"{self.kind}: no prices[] list in the answer")
        quotes: dict[str, PriceQuote] = {}
        for entry in data["prices"]:
            if not isinstance(entry, dict):
                raise PriceParseError(f"{self.kind}: a prices[] entry is not an object")
            for target in targets:
                if entry.get("endpoint_id") == target.provider_model:
                    quotes[target.offering] = self._quote(target, entry, observed_at, url)
        cursor = data.get("next_cursor") if data.get("has_more") is True else None
        if isinstance(cursor, str) and cursor:
            # later pages may hold the rest: only the caller, after the last page, can tell
            found = [quotes[t.offering] for t in targets if t.offering in quotes]
            return ParseResult(quotes=found, next_cursor=cursor)
        return self.finish(targets, quotes, ())

    def _quote(
        self, target: PricingTarget, entry: dict[str, Any], observed_at: dt.datetime, url: str
    ) -> PriceQuote:
        currency, price, unit = entry.get("currency"), entry.get("unit_price"), entry.get("unit")
        evidence = json.dumps(entry, default=str, sort_keys=True)
        if currency != "USD":
            raise PriceFormatError(f"{self.kind}: {target.provider_model} priced in {currency!r}")
        if not isinstance(price, Decimal | int | str) or isinstance(price, bool):
            raise PriceParseError(f"{self.kind}: {target.provider_model} has no unit_price")
        if not isinstance(unit, str):
            raise PriceParseError(f"{self.kind}: {target.provider_model} has no unit")
        try:
            amount = parse_amount(price) if isinstance(price, str) else _checked(Decimal(price))
            return self.quote(
                target,
                amount,
                parse_unit(unit),
                observed_at=observed_at,
                url=url,
                evidence=evidence,
                listed_text=f"{price} {currency}/{unit}",
            )
        except PriceParseError as exc:
            raise PriceParseError(f"{self.kind}: {target.provider_model}: {exc}") from None


def _checked(amount: Decimal) -> Decimal:
    if not amount.is_finite() or amount <= 0 or amount > SANE_MAX:
        raise PriceFormatError(f"implausible unit_price {amount}")
    return amount
