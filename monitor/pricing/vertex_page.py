"""Vertex AI generative AI pricing page: https://cloud.google.com/vertex-ai/generative-ai/pricing

The Imagen section is a table of rows such as "Imagen 4 for Generation", a description and
a per-image price. The row labels and the table layout are UNCONFIRMED (secondary
transcriptions), so rows are matched through the catalog's display names and the price
column is found by its header ("Price", "Precio"), else the last cell with a number. With
``?hl=es`` the page prints "0,04 USD por imagen" (decimal comma, USD after the number);
product names are assumed to stay in English there (UNCONFIRMED). The page also lists
"Imagen 4 for Upscaling", which matches no display name and is ignored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from bs4 import BeautifulSoup

from monitor.interfaces import PriceParseError
from monitor.pricing._tables import html_tables, read_tables
from monitor.pricing.base import ParseResult, PriceSource, PricingTarget


class VertexPage(PriceSource):
    kind = "vertex_page"
    expects = "an Imagen pricing table row labelled with the model's display name"

    def parse(
        self, text: str, *, targets: Sequence[PricingTarget], observed_at: dt.datetime, url: str
    ) -> ParseResult:
        tables = html_tables(text)
        if not tables:
            raise PriceParseError(f"{self.kind}: no tables on the page ({len(text)} bytes)")
        page_text = BeautifulSoup(text, "html.parser").get_text(" ", strip=True)
        return read_tables(
            self, tables, targets, page_text=page_text, observed_at=observed_at, url=url
        )
