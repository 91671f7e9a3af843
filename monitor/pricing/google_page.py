"""Google's two HTML pricing pages, one parser: the Gemini API's and Vertex AI's.

- Gemini API, https://ai.google.dev/gemini-api/docs/pricing: one section per model; Imagen 4
  has a heading, an italic line with its model IDs, and one table whose rows are display
  labels ("Imagen 4 Fast image price"), a "Free Tier" column ("Not available") and a "Paid
  Tier, per Image in USD" column with a bare dollar amount. The page is server-rendered
  devsite (inferred from third-party scrapers using plain HTTP).
- Vertex AI, https://cloud.google.com/vertex-ai/generative-ai/pricing: the Imagen section is
  a table of rows such as "Imagen 4 for Generation", a description and a per-image price.
  The row labels and the layout are UNCONFIRMED (secondary transcriptions). With ``?hl=es``
  the page prints "0,04 USD por imagen" (decimal comma, USD after the number); product names
  are assumed to stay in English there (UNCONFIRMED). "Imagen 4 for Upscaling" matches no
  display name and is ignored.

Both are read the same way: rows are matched to targets by the catalog's display names (so
the pages' other models, Gemini 2.5 Flash Image, Veo, Imagen 3, are ignored) and the price
column is found by its header, else the last cell with a number (``_tables.read_tables``).
A page without tables is a shell, an error page or a redesign: a failure, never a price.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from bs4 import BeautifulSoup

from monitor.interfaces import PriceParseError
from monitor.pricing._tables import html_tables, read_tables
from monitor.pricing.base import ParseResult, PriceSource, PricingTarget


class GoogleTablePage(PriceSource):
    """A Google pricing page whose tables label rows with the models' display names."""

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


class GeminiPage(GoogleTablePage):
    kind = "gemini_page"
    providers = ("gemini",)
    expects = "a pricing table row labelled with the model's display name"


class VertexPage(GoogleTablePage):
    kind = "vertex_page"
    providers = ("vertex",)
    expects = "an Imagen pricing table row labelled with the model's display name"
