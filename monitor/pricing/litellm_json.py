"""LiteLLM's price file: BerriAI/litellm ``model_prices_and_context_window.json`` (raw GitHub).

Keys map to offerings: ``vertex_ai/<model>``, ``gemini/<model>`` and ``fal_ai/<fal endpoint
id>``, each with ``output_cost_per_image`` in dollars. Cross-check only: it lists fal's
Standard at 0.0398, and its ``gemini/`` entries cite the Vertex page. LiteLLM deletes retired
keys, so a key gone from an otherwise valid file is a removal. Replicate keys
(``replicate/<owner>/<name>``) are UNCONFIRMED. The file is about 1.6 MB.

Token-priced image models (Gemini image models, OpenAI's GPT Image under their bare id,
e.g. ``gpt-image-2`` with ``input_cost_per_token`` 5e-06 and ``output_cost_per_image_token``
3e-05, per BerriAI/litellm's entry for it) give ``output_cost_per_image_token``, and
``output_cost_per_token`` / ``input_cost_per_token``: one quote per unit, per single token.
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
    "openai": ("", False),
}
#: LiteLLM fields of a token-priced image model -> our units (USD per single token)
_TOKEN_FIELDS = {
    "output_cost_per_image_token": PriceUnit.IMAGE_OUTPUT_TOKEN,
    "output_cost_per_token": PriceUnit.OUTPUT_TOKEN,
    "input_cost_per_token": PriceUnit.INPUT_TOKEN,
    "output_cost_per_image": PriceUnit.IMAGE,
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
        quotes: dict[str, PriceQuote | list[PriceQuote]] = {}
        removed: list[str] = []
        for target in targets:
            key = litellm_key(target)
            entry = data.get(key)
            if entry is None:
                removed.append(target.offering)
                continue
            if isinstance(entry, dict) and "output_cost_per_image_token" in entry:
                quotes[target.offering] = self._token_quotes(target, key, entry, observed_at, url)
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

    def _token_quotes(
        self,
        target: PricingTarget,
        key: str,
        entry: dict[str, Any],
        observed_at: dt.datetime,
        url: str,
    ) -> list[PriceQuote]:
        out = []
        for name, unit in _TOKEN_FIELDS.items():
            cost = entry.get(name)
            if cost is None:
                continue
            if not isinstance(cost, Decimal | int) or isinstance(cost, bool) or cost <= 0:
                raise PriceParseError(f"{self.kind}: {key}: no usable {name}")
            out.append(
                self.quote(
                    target,
                    Decimal(cost),
                    unit,
                    observed_at=observed_at,
                    url=url,
                    evidence=json.dumps({key: {name: str(cost)}}),
                    listed_text=str(cost),
                )
            )
        return out
