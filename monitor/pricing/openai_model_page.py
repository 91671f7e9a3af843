"""OpenAI model pages' Markdown twins: https://developers.openai.com/api/docs/models/<id>.md

A page per model (".md" appended to the page URL gives its Markdown, per the docs' own
header). Its pricing part has blocks "Text tokens" and "Image tokens", each "Per 1M tokens"
with "Input", "Cached input" and (image) "Output" lines or rows, then "Image generation" /
"Per image" tables by quality and size. Read: text input and image output per 1M tokens,
and the per-image price of a low-quality 1024x1024 image when listed. The exact Markdown
layout of the twin is UNCONFIRMED (the HTML page's text order is what the parser follows),
so lines and pipe-table rows are read alike. OpenAI's pages reportedly answer 403 to
clients without a browser-like user agent (pricing-sources.md, section 3).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from decimal import Decimal

from monitor.interfaces import PriceParseError, PriceQuote, PriceUnit
from monitor.pricing.base import REMOVAL, ParseResult, PriceSource, PricingTarget
from monitor.pricing.normalise import SANE_MAX

MILLION = Decimal(1_000_000)
_AMOUNT = re.compile(r"\$\s*(\d+(?:\.\d+)?)")
_BLOCKS = {"text tokens": "text", "image tokens": "image", "image generation": "per_image"}


class OpenAIModelPage(PriceSource):
    kind = "openai_model_page"
    providers = ("openai",)
    expects = "the model's page with 'Image tokens' per 1M tokens and an Output price"

    def parse(
        self, text: str, *, targets: Sequence[PricingTarget], observed_at: dt.datetime, url: str
    ) -> ParseResult:
        if text.lstrip()[:1] == "<":
            raise PriceParseError(f"{self.kind}: got HTML where Markdown was expected")
        lines = [" ".join(ln.replace("|", " ").lstrip("#").split()) for ln in text.splitlines()]
        lines = [ln for ln in lines if ln and not re.fullmatch(r"[-: ]+", ln)]
        quotes: dict[str, list[PriceQuote]] = {}
        removed: list[str] = []
        titles = {t.offering: _title(lines, t.provider_model) for t in targets}
        # a page prices the model it names; it names none of them: all are missing
        named = [t for t in targets if titles[t.offering] is not None] or list(targets)
        for target in named:
            title = titles[target.offering]
            if title is None:
                continue  # finish() reports it missing
            if any(REMOVAL.search(ln) for ln in lines[title : title + 4]):
                removed.append(target.offering)
                continue
            quotes[target.offering] = self._read(lines, target, observed_at, url)
        return self.finish(named, quotes, removed)

    def _read(
        self, lines: list[str], target: PricingTarget, observed_at: dt.datetime, url: str
    ) -> list[PriceQuote]:
        block, per_million, low_columns = "", False, list[str]()
        found: dict[PriceUnit, tuple[Decimal, str, Decimal]] = {}
        for line in lines:
            lower = line.casefold()
            if lower in _BLOCKS:
                block, per_million = _BLOCKS[lower], False
                continue
            per_million = per_million or lower.startswith("per 1m tokens")
            amount = _AMOUNT.search(line)
            if block == "per_image" and lower.startswith("quality") and "1024x1024" in lower:
                low_columns = lower.split()[1:]
            if amount is None:
                continue
            value = Decimal(amount.group(1))
            if block == "text" and per_million and lower.startswith("input"):
                found.setdefault(PriceUnit.INPUT_TOKEN, (value, line, MILLION))
            elif block == "image" and per_million and lower.startswith("output"):
                found.setdefault(PriceUnit.IMAGE_OUTPUT_TOKEN, (value, line, MILLION))
            elif block == "per_image" and lower.startswith("low") and low_columns:
                cells = _AMOUNT.findall(line)
                column = low_columns.index("1024x1024")
                if column < len(cells):
                    found.setdefault(PriceUnit.IMAGE, (Decimal(cells[column]), line, Decimal(1)))
        if PriceUnit.IMAGE_OUTPUT_TOKEN not in found:
            raise PriceParseError(
                f"{self.kind}: {target.provider_model}: no image output price per 1M tokens"
            )
        out = []
        for unit, (value, line, divisor) in found.items():
            if not 0 < value <= SANE_MAX * divisor:
                raise PriceParseError(f"{self.kind}: implausible {unit.value} price {value}")
            out.append(
                self.quote(
                    target,
                    value / divisor,
                    unit,
                    observed_at=observed_at,
                    url=url,
                    evidence=line,
                    listed_text=line,
                )
            )
        return out


def _title(lines: list[str], model_id: str) -> int | None:
    """The line naming the model by its id in backticks (not a longer id that contains it)."""
    return next((i for i, line in enumerate(lines) if f"`{model_id}`" in line), None)
