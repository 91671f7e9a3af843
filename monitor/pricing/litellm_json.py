"""LiteLLM's price file: BerriAI/litellm ``model_prices_and_context_window.json`` (raw GitHub).

Keys map to offerings: ``vertex_ai/<model>``, ``gemini/<model>`` and ``fal_ai/<fal endpoint
id>``, each with ``output_cost_per_image`` in dollars. Cross-check only: it lists fal's
Standard at 0.0398, and its ``gemini/`` entries cite the Vertex page. LiteLLM deletes retired
keys, so a key gone from an otherwise valid file is a removal. Replicate keys
(``replicate/<owner>/<name>``) are UNCONFIRMED. The file is about 1.6 MB.
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

#: LiteLLM key prefix per provider, and whether the key uses the provider's own model id
_PREFIX: dict[str, tuple[str, bool]] = {
    "vertex": ("vertex_ai/", False),
    "gemini": ("gemini/", False),
    "fal": ("fal_ai/", True),
    "replicate": ("replicate/", True),
}
#: a real file has thousands of entries; a handful means a truncated or wrong file
_MIN_ENTRIES = 20


def litellm_key(target: PricingTarget) -> str:
    if target.provider not in _PREFIX:
        raise PriceParseError(f"litellm_json: no LiteLLM key family for {target.offering}")
    prefix, own_id = _PREFIX[target.provider]
    return prefix + (target.provider_model if own_id else target.model)


class LitellmJson(PriceSource):
    kind = "litellm_json"
    providers = ("vertex", "gemini", "fal")
    expects = "an entry with output_cost_per_image under the offering's LiteLLM key"

    def parse(
        self, text: str, *, targets: Sequence[PricingTarget], observed_at: dt.datetime, url: str
    ) -> ParseResult:
        try:
            # parse_float keeps 0.0398 exactly as listed
            data: Any = json.loads(text, parse_float=Decimal)
        except (ValueError, RecursionError) as exc:
            raise PriceParseError(f"{self.kind}: not JSON: {exc}") from None
        if not isinstance(data, dict) or len(data) < _MIN_ENTRIES:
            raise PriceParseError(f"{self.kind}: not a LiteLLM price map (too few entries)")
        quotes: dict[str, PriceQuote] = {}
        removed: list[str] = []
        for target in targets:
            key = litellm_key(target)
            entry = data.get(key)
            if entry is None:
                removed.append(target.offering)
                continue
            cost = entry.get("output_cost_per_image") if isinstance(entry, dict) else None
            if (
                not isinstance(cost, Decimal | int)
                or isinstance(cost, bool)
                or not 0 < cost <= SANE_MAX
            ):
                raise PriceParseError(f"{self.kind}: {key}: no usable output_cost_per_image")
            evidence = json.dumps({key: {"output_cost_per_image": str(cost)}})
            quotes[target.offering] = self.quote(
                target,
                Decimal(cost),
                PriceUnit.IMAGE,
                observed_at=observed_at,
                url=url,
                evidence=evidence,
                listed_text=str(cost),
            )
        return self.finish(targets, quotes, removed)
