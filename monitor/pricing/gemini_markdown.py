"""Gemini API pricing page's Markdown twin: https://ai.google.dev/gemini-api/docs/pricing.md.txt

The same content as the HTML page: a pipe table under ``## Imagen 4`` with the paid price in
the third cell. Quirks tolerated: the header row ends with an extra empty cell, and the last
row ("Used to improve our products") has a link split across two lines.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from monitor.interfaces import PriceParseError
from monitor.pricing._tables import markdown_tables, read_tables
from monitor.pricing.base import ParseResult, PriceSource, PricingTarget


class GeminiMarkdown(PriceSource):
    kind = "gemini_markdown"
    providers = ("gemini",)
    expects = "a pipe-table row labelled with the model's display name"

    def parse(
        self, text: str, *, targets: Sequence[PricingTarget], observed_at: dt.datetime, url: str
    ) -> ParseResult:
        if text.lstrip()[:1] == "<":
            # the .md.txt URL answering HTML means a redirect or an error page, not the twin
            raise PriceParseError(f"{self.kind}: got HTML where Markdown was expected")
        tables = markdown_tables(text)
        if not tables:
            raise PriceParseError(f"{self.kind}: no pipe tables in the document")
        return read_tables(self, tables, targets, page_text=text, observed_at=observed_at, url=url)
