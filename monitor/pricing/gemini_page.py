"""Gemini API pricing page: https://ai.google.dev/gemini-api/docs/pricing (HTML).

One section per model; Imagen 4 has a heading, an italic line with its model IDs, and one
table whose rows are display labels ("Imagen 4 Fast image price"), a "Free Tier" column
("Not available") and a "Paid Tier, per Image in USD" column with a bare dollar amount.
Rows are matched to targets by the catalog's display names, so the page's other models
(Gemini 2.5 Flash Image, Veo, Imagen 3) are ignored. The page is server-rendered devsite
(inferred from third-party scrapers using plain HTTP): a page without the table is a failure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from bs4 import BeautifulSoup

from monitor.interfaces import PriceParseError
from monitor.pricing._tables import html_tables, read_tables
from monitor.pricing.base import ParseResult, PriceSource, PricingTarget


class GeminiPage(PriceSource):
    kind = "gemini_page"
    expects = "a pricing table row labelled with the model's display name"

    def parse(
        self, text: str, *, targets: Sequence[PricingTarget], observed_at: dt.datetime, url: str
    ) -> ParseResult:
        tables = html_tables(text)
        if not tables:
            # a devsite page always has tables; none means a shell, an error page or a redesign
            raise PriceParseError(f"{self.kind}: no tables on the page ({len(text)} bytes)")
        page_text = BeautifulSoup(text, "html.parser").get_text(" ", strip=True)
        return read_tables(
            self, tables, targets, page_text=page_text, observed_at=observed_at, url=url
        )
