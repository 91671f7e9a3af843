"""fal.ai model page and its Markdown: https://fal.ai/models/{endpoint_id} (``## Pricing``).

The price is prose: "Your request will cost **$0.04** per image", sometimes followed by a
surcharge clause ("or $0.06 per image if ...") and a restatement ("For $1 you can run this
model approximately 25 times"). Only the first amount and its unit are read. The imagen4
Markdown has at times had no Pricing section (linking to the OpenAPI file instead): that is
a parse failure, so prefer ``fal_pricing_api``. Whether the HTML is server-rendered is
UNCONFIRMED; an HTML shell without the sentence is a failure, never $0.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from monitor.interfaces import PriceParseError, PriceQuote
from monitor.pricing._pages import model_gone, page_targets, visible_text
from monitor.pricing.base import ParseResult, PriceSource, PricingTarget
from monitor.pricing.normalise import clean, parse_price

_SENTENCE = re.compile(r"Your request will cost\s+(?P<rest>[^\n]{0,300})", re.IGNORECASE)
#: the first amount and unit end where a clause or the "For $1" restatement begins
_CLAUSE_END = re.compile(r",|;|\.\s|\.$|\s\bor\b|\s\bif\b|\s\bfor\b|\s\band\b", re.IGNORECASE)


class FalPage(PriceSource):
    kind = "fal_page"
    providers = ("fal",)
    expects = "a 'Your request will cost $X per <unit>' sentence on the model's page"

    def parse(
        self, text: str, *, targets: Sequence[PricingTarget], observed_at: dt.datetime, url: str
    ) -> ParseResult:
        body = visible_text(text)
        mine = page_targets(self.kind, text, url, targets)
        if model_gone(body):
            return ParseResult(removed=[t.offering for t in mine])
        found = _SENTENCE.search(clean(body))
        if found is None:
            raise PriceParseError(f"{self.kind}: no 'Your request will cost' sentence")
        rest = found.group("rest")
        end = _CLAUSE_END.search(rest)
        first = rest[: end.start()] if end else rest
        try:
            amount, unit = parse_price(first)
        except PriceParseError as exc:
            raise PriceParseError(f"{self.kind}: {exc}") from None
        evidence = found.group(0).split(". ")[0]
        quotes: dict[str, PriceQuote] = {
            t.offering: self.quote(
                t,
                amount,
                unit,
                observed_at=observed_at,
                url=url,
                evidence=evidence,
                listed_text=first,
            )
            for t in mine
        }
        return self.finish(mine, quotes, ())
