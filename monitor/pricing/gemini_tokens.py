"""Token-priced Gemini image models on the Gemini API pricing page's Markdown twin
(https://ai.google.dev/gemini-api/docs/pricing.md.txt).

One ``##`` section per model: its heading, an italic line with the model id in backticks,
then a Standard table (Batch and other tabs follow; the first paid table wins) whose header
says "Paid Tier, per 1M tokens in USD". Rows: "Input price" (text input), "Output price"
with the text-and-thinking rate and the image rate in one cell ("$12.00 (text and thinking)
$120.00 (images)*"). An image rate printed only as "$0.039 per image*" is read from the
section's footnote ("Image output is priced at $30 per 1,000,000 tokens"). Rates are stored
per single token: $120 per 1M is 0.00012 per ``image_output_token``.

The footnote also says what the smallest image costs ("Output images up to 1024x1024px (1K)
... consume 1120 tokens and are equivalent to $0.134 per image"): that first per-image
equivalent is kept as an ``image`` quote. When Google changes the tokens an image takes at
an unchanged rate, this is the quote that moves, so the change is judged (and counted) as a
price change like any other.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from decimal import Decimal

from monitor.interfaces import PriceParseError, PriceQuote, PriceUnit
from monitor.pricing._tables import Table, markdown_tables
from monitor.pricing.base import REMOVAL, ParseResult, PriceSource, PricingTarget
from monitor.pricing.normalise import SANE_MAX, clean

MILLION = Decimal(1_000_000)
_AMOUNT = re.compile(r"\$\s*(?P<amount>\d+(?:\.\d+)?)\s*(?P<what>\([^)]*\))?")
_EQUIVALENT = re.compile(r"equivalent to \$\s*(?P<amount>\d+(?:\.\d+)?) per image", re.I)
_FOOTNOTE = re.compile(
    r"image output is priced at \$\s*(?P<amount>\d+(?:\.\d+)?) per 1,?000,?000 tokens",
    re.IGNORECASE,
)


class GeminiTokens(PriceSource):
    kind = "gemini_tokens"
    providers = ("gemini",)
    expects = "a section with the model id in backticks and a paid per-1M-tokens table"

    def parse(
        self, text: str, *, targets: Sequence[PricingTarget], observed_at: dt.datetime, url: str
    ) -> ParseResult:
        if text.lstrip()[:1] == "<":
            raise PriceParseError(f"{self.kind}: got HTML where Markdown was expected")
        sections = re.split(r"(?m)^(?=## )", text)
        quotes: dict[str, list[PriceQuote]] = {}
        removed: list[str] = []
        for target in targets:
            section = next((s for s in sections if _names(s, target.provider_model)), None)
            if section is None:
                continue
            if REMOVAL.search(section.split("|", 1)[0]):
                removed.append(target.offering)  # "deprecated" or "shut down" above its table
                continue
            quotes[target.offering] = self._rates(section, target, observed_at, url)
        return self.finish(targets, quotes, removed)

    def _rates(
        self, section: str, target: PricingTarget, observed_at: dt.datetime, url: str
    ) -> list[PriceQuote]:
        table = next((t for t in markdown_tables(section) if _paid(t) is not None), None)
        if table is None:
            raise PriceParseError(f"{self.kind}: {target.provider_model}: no paid-tier table")
        paid = _paid(table) or 0
        if "1m tokens" not in clean(table.header[paid]).casefold():
            raise PriceParseError(f"{self.kind}: {target.provider_model}: not per 1M tokens")
        rates: dict[PriceUnit, tuple[Decimal, str]] = {}
        for row in table.rows:
            label, cell = row[0].casefold(), row[paid] if paid < len(row) else ""
            pieces = [
                (Decimal(m["amount"]), (m["what"] or "").casefold()) for m in _AMOUNT.finditer(cell)
            ]
            evidence = f"{table.heading}: {' | '.join(row)}"
            if label.startswith("input price") and pieces:
                rates[PriceUnit.INPUT_TOKEN] = (pieces[0][0], evidence)
            elif label.startswith("output price"):
                for amount, what in pieces:
                    if "image" in what:
                        rates[PriceUnit.IMAGE_OUTPUT_TOKEN] = (amount, evidence)
                    elif "per image" not in cell.casefold() or what:
                        rates[PriceUnit.OUTPUT_TOKEN] = (amount, evidence)
                    else:  # "$0.0336 per image*": the per-image equivalent in the cell
                        rates[PriceUnit.IMAGE] = (amount * MILLION, evidence)
        footnote = _FOOTNOTE.search(section)
        if PriceUnit.IMAGE_OUTPUT_TOKEN not in rates and footnote is not None:
            rates[PriceUnit.IMAGE_OUTPUT_TOKEN] = (Decimal(footnote["amount"]), footnote[0])
        if PriceUnit.IMAGE_OUTPUT_TOKEN not in rates:
            raise PriceParseError(f"{self.kind}: {target.provider_model}: no image output rate")
        equivalent = _EQUIVALENT.search(section)
        if equivalent is not None:  # the first (smallest) image's price, as the page says
            rates[PriceUnit.IMAGE] = (Decimal(equivalent["amount"]) * MILLION, equivalent[0])
        out = []
        for unit, (per_million, evidence) in rates.items():
            if not 0 < per_million <= SANE_MAX * MILLION:
                raise PriceParseError(f"{self.kind}: implausible rate {per_million} per 1M")
            out.append(
                self.quote(
                    target,
                    per_million / MILLION,
                    unit,
                    observed_at=observed_at,
                    url=url,
                    evidence=evidence,
                    listed_text=(
                        f"${per_million / MILLION} per image"
                        if unit is PriceUnit.IMAGE
                        else f"${per_million} per 1M {unit.value}s"
                    ),
                )
            )
        return out


def _names(section: str, model_id: str) -> bool:
    """The section's id line (within its first lines) names the model in backticks."""
    head = "\n".join(section.splitlines()[:4])
    return f"`{model_id}`" in head


def _paid(table: Table) -> int | None:
    return next((i for i, c in enumerate(table.header) if "paid" in c.casefold()), None)
