"""Black Forest Labs' pricing page in Markdown: https://docs.bfl.ai/quick_start/pricing.md

A "FLUX.2 Models" table: ``| Model | Text-to-Image | Image Editing | Best For |`` with rows
such as ``| FLUX.2 \\[pro] | from \\$0.03 | from \\$0.045 | ... |`` (Markdown escapes kept).
FLUX.2 is priced by megapixel; the "from" amount is the price of the first megapixel, i.e.
of an image up to 1 MP, which is what the probes ask for, so it is stored per image. Rows
are matched by the catalog's display names ("FLUX.2 [pro]"); "Local only" cells (FLUX.2
[dev]) are not prices. 1 credit = $0.01 per the page's own note.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from monitor.interfaces import PriceParseError, PriceQuote, PriceUnit
from monitor.pricing._tables import markdown_tables
from monitor.pricing.base import REMOVAL, ParseResult, PriceSource, PricingTarget
from monitor.pricing.normalise import PriceFormatError, clean, parse_amount


def _label(text: str) -> str:
    return " ".join(clean(text.replace("\\", "")).casefold().split())


class BflPricing(PriceSource):
    kind = "bfl_pricing"
    providers = ("bfl",)
    expects = "a FLUX.2 table row named like the model with a Text-to-Image price"

    def parse(
        self, text: str, *, targets: Sequence[PricingTarget], observed_at: dt.datetime, url: str
    ) -> ParseResult:
        if text.lstrip()[:1] == "<":
            raise PriceParseError(f"{self.kind}: got HTML where Markdown was expected")
        quotes: dict[str, PriceQuote] = {}
        removed: list[str] = []
        covered: set[str] = set()
        for table in markdown_tables(text):
            header = [_label(c) for c in table.header]
            column = next((i for i, c in enumerate(header) if "text-to-image" in c), None)
            if column is None:
                continue
            covered |= {t.group for t in targets}  # a FLUX.2 table: a missing row is gone
            for row in table.rows:
                for target in targets:
                    if _label(row[0]) not in {_label(n) for n in target.labels}:
                        continue
                    if REMOVAL.search(" ".join(row)):
                        removed.append(target.offering)
                        continue
                    cell = row[column].replace("\\", "") if column < len(row) else ""
                    try:
                        amount = parse_amount(cell)
                    except PriceFormatError as exc:
                        raise PriceParseError(f"{self.kind}: row {row[0]!r}: {exc}") from None
                    quotes.setdefault(
                        target.offering,
                        self.quote(
                            target,
                            amount,
                            PriceUnit.IMAGE,
                            observed_at=observed_at,
                            url=url,
                            evidence=f"{table.heading}: {' | '.join(row)}",
                            listed_text=f"{cell} (first megapixel)",
                        ),
                    )
        if not covered:
            raise PriceParseError(f"{self.kind}: no table with a Text-to-Image column")
        return self.finish(targets, quotes, removed, covered=covered)
