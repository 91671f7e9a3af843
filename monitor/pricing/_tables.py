"""Pricing tables whose rows are display labels (Google's Gemini and Vertex pages, HTML or
Markdown): find the paid column, match rows to targets by label, read the price."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bs4 import BeautifulSoup

from monitor.interfaces import PriceParseError, PriceQuote, PriceUnit
from monitor.pricing.base import REMOVAL, ParseResult, PriceSource, PricingTarget, match_label
from monitor.pricing.normalise import PriceFormatError, parse_price, parse_unit

#: header words of the column to read; "Free Tier" cells say "Not available", never $0
_PAID = ("paid", "pago", "price", "precio", "cost")
_UNIT_IN_HEADER = re.compile(r"\b(?:per|por)\s+(\w+)", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class Table:
    heading: str
    header: list[str]
    rows: list[list[str]]


def html_tables(text: str) -> list[Table]:
    soup = BeautifulSoup(text, "html.parser")
    tables = []
    for table in soup.find_all("table"):
        rows = [
            [cell.get_text(" ", strip=True) for cell in tr.find_all(["td", "th"])]
            for tr in table.find_all("tr")
        ]
        heading = table.find_previous(["h1", "h2", "h3", "h4"])
        first = table.find("tr")
        has_header = bool(table.find("thead") or (first is not None and first.find("th")))
        header = rows.pop(0) if rows and has_header else []
        tables.append(
            Table(
                heading=heading.get_text(" ", strip=True) if heading else "",
                header=header,
                rows=rows,
            )
        )
    return tables


def markdown_tables(text: str) -> list[Table]:
    """Pipe tables; a row continued on the next line (a split link) is joined back."""
    tables: list[Table] = []
    heading, lines = "", list[str]()
    for raw in [*text.splitlines(), ""]:
        line = raw.strip()
        if line.startswith("|") or (lines and not lines[-1].endswith("|") and line):
            if line.startswith("|") or not lines:
                lines.append(line)
            else:
                lines[-1] += " " + line
            continue
        if lines:
            rows = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]
            rows = [r for r in rows if not all(re.fullmatch(r":?-{2,}:?", c) for c in r if c)]
            if rows:
                tables.append(Table(heading=heading, header=rows[0], rows=rows[1:]))
            lines = []
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
    return tables


def _paid_column(header: Sequence[str]) -> tuple[int | None, PriceUnit | None]:
    for word in _PAID:
        for index, cell in enumerate(header):
            if word in cell.casefold():
                unit = _UNIT_IN_HEADER.search(cell)
                try:
                    return index, parse_unit(unit.group(1)) if unit else None
                except PriceFormatError:
                    return index, None
    return None, None


def _cell(row: Sequence[str], paid: int | None) -> str:
    if paid is not None and paid < len(row) and row[paid]:
        return row[paid]
    # no paid column: the last cell with a digit in it
    return next((c for c in reversed(row[1:]) if re.search(r"\d", c)), row[-1])


def _id_marked_removed(text: str, target: PricingTarget) -> bool:
    """The model-ID line says the ID is deprecated ("`imagen-4.0-...` (deprecated)")."""
    pattern = rf"{re.escape(target.model)}[`*_\s]{{0,4}}[(:,\-\u2013\u2014]?\s*(?:is\s+|was\s+)?"
    return re.search(pattern + REMOVAL.pattern, text, re.IGNORECASE) is not None


def read_tables(
    source: PriceSource,
    tables: Iterable[Table],
    targets: Sequence[PricingTarget],
    *,
    page_text: str,
    observed_at: dt.datetime,
    url: str,
) -> ParseResult:
    quotes: dict[str, PriceQuote] = {}
    removed = {t.offering for t in targets if _id_marked_removed(page_text, t)}
    covered: set[str] = set()
    for table in tables:
        paid, unit = _paid_column(table.header)
        for row in table.rows:
            if len(row) < 2:
                continue
            for target in match_label(row[0], targets):
                covered.add(target.group)
                if target.offering in quotes or target.offering in removed:
                    continue  # first table wins: Standard before Batch/Flex tabs
                if REMOVAL.search(" ".join(row)):
                    removed.add(target.offering)
                    continue
                cell = _cell(row, paid)
                try:
                    amount, row_unit = parse_price(cell, default_unit=unit or PriceUnit.IMAGE)
                except PriceParseError as exc:
                    raise PriceParseError(f"{source.kind}: row {row[0]!r}: {exc}") from None
                quotes[target.offering] = source.quote(
                    target,
                    amount,
                    row_unit,
                    observed_at=observed_at,
                    url=url,
                    evidence=f"{table.heading}: {' | '.join(row)}",
                    listed_text=cell,
                )
    return source.finish(targets, quotes, removed, covered=covered)
