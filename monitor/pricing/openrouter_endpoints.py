"""OpenRouter's image model endpoints listing (JSON):
``GET https://openrouter.ai/api/v1/images/models/{id}/endpoints``.

One page per model: ``{"data": {"id", "endpoints": [{"provider_name", "pricing": [{"billable",
"cost_usd", "unit", "variant"?}]}]}}`` (field names per OpenRouter's SDK reference,
``ImageModelEndpointsResponse`` / ``ImagePricingEntry``, whose example lists
``bytedance-seed/seedream-4.5`` at ``{"billable": "output_image", "cost_usd": 0.05, "unit":
"image"}``). The ``data`` wrapper is how OpenRouter's other listings answer; a bare object is
accepted too. The first endpoint is read (OpenRouter's default provider order); an entry
with a ``variant`` (a resolution) counts only when no plain entry prices the same thing.
Units beyond ``image`` and ``request`` (token and megapixel pricing) are UNCONFIRMED.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from monitor.interfaces import PriceParseError, PriceQuote, PriceUnit
from monitor.pricing.base import ParseResult, PriceSource, PricingTarget
from monitor.pricing.normalise import SANE_MAX

#: (billable, unit) -> our unit; billable "*" matches any
_UNITS: dict[tuple[str, str], PriceUnit] = {
    ("output_image", "image"): PriceUnit.IMAGE,
    ("*", "request"): PriceUnit.RUN,
    ("output_image", "megapixel"): PriceUnit.MEGAPIXEL,
    ("output_image", "token"): PriceUnit.IMAGE_OUTPUT_TOKEN,
    ("output_text", "token"): PriceUnit.OUTPUT_TOKEN,
    ("input_text", "token"): PriceUnit.INPUT_TOKEN,
}


class OpenRouterEndpoints(PriceSource):
    kind = "openrouter_endpoints"
    providers = ("openrouter",)
    expects = "an endpoints[] listing of the model with pricing[] entries"

    def parse(
        self, text: str, *, targets: Sequence[PricingTarget], observed_at: dt.datetime, url: str
    ) -> ParseResult:
        try:
            data: Any = json.loads(text, parse_float=Decimal)
        except (ValueError, RecursionError) as exc:
            raise PriceParseError(f"{self.kind}: not JSON: {exc}") from None
        if isinstance(data, dict) and isinstance(data.get("data"), dict):
            data = data["data"]
        if not isinstance(data, dict) or not isinstance(data.get("endpoints"), list):
            raise PriceParseError(f"{self.kind}: no endpoints[] list in the answer")
        quotes: dict[str, list[PriceQuote]] = {}
        removed: list[str] = []
        # one model's page: it prices the targets it names (none named: all are missing)
        named = [t for t in targets if _names(data.get("id"), t)] or list(targets)
        for target in named:
            if not _names(data.get("id"), target):
                continue
            if not data["endpoints"]:
                removed.append(target.offering)  # listed, but no provider serves it now
                continue
            quotes[target.offering] = self._read(data["endpoints"][0], target, observed_at, url)
        return self.finish(named, quotes, removed)

    def _read(
        self, endpoint: Any, target: PricingTarget, observed_at: dt.datetime, url: str
    ) -> list[PriceQuote]:
        entries = endpoint.get("pricing") if isinstance(endpoint, dict) else None
        if not isinstance(entries, list) or not entries:
            raise PriceParseError(f"{self.kind}: {target.provider_model}: no pricing[] entries")
        found: dict[PriceUnit, PriceQuote] = {}
        # plain entries first, so a variant never overrides the price without one
        for entry in sorted(entries, key=lambda e: isinstance(e, dict) and "variant" in e):
            if not isinstance(entry, dict):
                raise PriceParseError(f"{self.kind}: a pricing[] entry is not an object")
            billable, unit, cost = entry.get("billable"), entry.get("unit"), entry.get("cost_usd")
            ours = _UNITS.get((str(billable), str(unit))) or _UNITS.get(("*", str(unit)))
            if ours is None:
                raise PriceParseError(
                    f"{self.kind}: {target.provider_model}: unknown pricing {billable}/{unit}"
                )
            if not isinstance(cost, Decimal | int) or isinstance(cost, bool):
                raise PriceParseError(f"{self.kind}: {target.provider_model}: no cost_usd")
            if not 0 < cost <= SANE_MAX:
                raise PriceParseError(f"{self.kind}: implausible cost_usd {cost}")
            evidence = json.dumps(entry, default=str, sort_keys=True)
            found.setdefault(
                ours,
                self.quote(
                    target,
                    Decimal(cost),
                    ours,
                    observed_at=observed_at,
                    url=url,
                    evidence=f"{endpoint.get('provider_name', '')}: {evidence}",
                    listed_text=f"{cost} USD/{unit}",
                ),
            )
        return list(found.values())


def _names(model_id: object, target: PricingTarget) -> bool:
    """The listing is the target's: its id is the provider model, or (a target without one,
    ``provmon prices parse`` on an unconfigured kind) ends in the model id as the slug."""
    if not isinstance(model_id, str):
        return False
    if model_id == target.provider_model:
        return True
    return target.provider_model == target.model and model_id.rpartition("/")[2] == target.model
