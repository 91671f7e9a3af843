"""Providers' deprecation pages, read like pricing pages: pure parsers over saved text.

Two sources so far, both read from their Markdown twins (HTML tables are read too):

- ``gemini_deprecations``: https://ai.google.dev/gemini-api/docs/deprecations.md.txt, one
  pipe table per model generation with the columns Model | Release date | Shutdown date |
  Recommended replacement; model ids in backticks; "No shutdown date announced"; "Earliest
  February 2026" in older versions; "Preview models" separator rows.
- ``openai_deprecations``: https://developers.openai.com/api/docs/deprecations.md, tables
  with a Shutdown date column and an Affected model (or "Model / system") column holding
  one or more comma-separated ids, and a Recommended replacement column.

A parser anchors on the header cells (a column naming "shutdown" and one naming "model"),
never on positions or CSS, and raises :class:`DeprecationParseError` when a page has no such
table or no row of it could be read: a broken page never becomes "no shutdowns".
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser

from monitor.lifecycle import Shutdown


class DeprecationParseError(Exception):
    """A deprecation page could not be read as expected."""


_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_MONTH = r"([A-Za-z]{3,9})\.?"
_DATE_FORMS = (
    (re.compile(rf"^{_MONTH}\s+(\d{{1,2}}),?\s+(\d{{4}})$"), ("month", "day", "year")),
    (re.compile(rf"^(\d{{1,2}})\s+{_MONTH},?\s+(\d{{4}})$"), ("day", "month", "year")),
    (re.compile(r"^(\d{4})-(\d{2})-(\d{2})$"), ("year", "month", "day")),
)
_MONTH_ONLY = re.compile(rf"^(?:earliest\s+)?{_MONTH}\s+(\d{{4}})$", re.IGNORECASE)
_NO_DATE = re.compile(r"no shutdown|not announced|^tbd$|^n/?a$|^-*$", re.IGNORECASE)
_ID = re.compile(r"[a-z0-9][a-z0-9._:/-]*[a-z0-9]", re.IGNORECASE)


def _clean(cell: str) -> str:
    text = re.sub(r"<[^>]+>", " ", cell)
    text = text.replace("**", "").replace("~~", "").replace("\u00a0", " ")
    return re.sub(r"\s+", " ", text).strip()


def _month(name: str) -> int | None:
    return _MONTHS.get(name.lower().rstrip("."))


def parse_date(cell: str) -> tuple[dt.date | None, bool]:
    """(date, earliest) from a shutdown cell; (None, False) when none is announced.

    Raises ValueError for text that is neither a date nor a "none announced" phrase.
    """
    text = _clean(cell).replace("`", "").strip()
    if _NO_DATE.search(text):
        return None, False
    earliest = text.lower().startswith("earliest")
    bare = re.sub(r"^earliest\s+", "", text, flags=re.IGNORECASE)
    for pattern, order in _DATE_FORMS:
        match = pattern.match(bare)
        if match:
            parts = dict(zip(order, match.groups(), strict=True))
            month = int(parts["month"]) if parts["month"].isdigit() else _month(parts["month"])
            if month is None:
                break
            return dt.date(int(parts["year"]), month, int(parts["day"])), earliest
    match = _MONTH_ONLY.match(text)
    if match and (month := _month(match.group(1))) is not None:
        return dt.date(int(match.group(2)), month, 1), True
    raise ValueError(f"not a shutdown date: {text[:60]!r}")


def model_ids(cell: str) -> list[str]:
    """The model ids a cell names: backticked ones if any, else comma/"or"-separated words;
    "(and -2025-12-16)" style snapshot notes are dropped."""
    text = _clean(cell)
    quoted = re.findall(r"`([^`]+)`", text)
    if quoted:
        return [q.strip() for q in quoted if _ID.fullmatch(q.strip())]
    text = re.sub(r"\([^)]*\)", " ", text)
    words = re.split(r",|\bor\b|\band\b|;", text)
    return [w.strip() for w in words if _ID.fullmatch(w.strip())]


# -- tables ---------------------------------------------------------------------------------


def markdown_tables(text: str) -> Iterator[list[list[str]]]:
    """Each pipe table of a Markdown text as rows of cells (separator rows dropped)."""
    rows: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        stripped = line.strip()
        if stripped.startswith("|"):
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            if not all(re.fullmatch(r":?-{3,}:?", c) for c in cells if c):
                rows.append(cells)
            continue
        if rows:
            yield rows
            rows = []


class _TableReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "code" and self._cell is not None:
            self._cell.append("`")

    def handle_endtag(self, tag: str) -> None:
        if tag == "code" and self._cell is not None:
            self._cell.append("`")
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None and self.tables:
            self.tables[-1].append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_tables(text: str) -> list[list[list[str]]]:
    reader = _TableReader()
    reader.feed(text)
    return [t for t in reader.tables if t]


# -- sources ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Columns:
    model: int
    shutdown: int
    replacement: int | None


def _columns(header: list[str]) -> _Columns | None:
    names = [_clean(c).lower() for c in header]
    model = next((i for i, n in enumerate(names) if "model" in n), None)
    shutdown = next((i for i, n in enumerate(names) if "shutdown" in n or "shut down" in n), None)
    if model is None or shutdown is None:
        return None
    replacement = next((i for i, n in enumerate(names) if "replacement" in n), None)
    return _Columns(model=model, shutdown=shutdown, replacement=replacement)


@dataclass(frozen=True)
class DeprecationSource:
    """One provider's deprecation page. ``parse`` is pure: text in, shutdowns out.

    The pages known so far share one reading (tables anchored on their header cells), so a
    source is a kind and a description, not a class of its own.
    """

    kind: str
    description: str

    def parse(self, text: str, *, provider: str | None = None) -> list[Shutdown]:
        tables = [*markdown_tables(text), *html_tables(text)]
        found: list[Shutdown] = []
        readable = 0
        for table in tables:
            columns = _columns(table[0])
            if columns is None:
                continue
            for row in table[1:]:
                shutdown = self._row(row, columns, provider)
                if shutdown is None:
                    continue
                readable += 1
                found.extend(shutdown)
        if not readable:
            raise DeprecationParseError(
                f"{self.kind}: no table with a model and a shutdown date column could be read"
            )
        return found

    def _row(
        self, row: list[str], columns: _Columns, provider: str | None
    ) -> list[Shutdown] | None:
        width = max(columns.model, columns.shutdown) + 1
        if len(row) < width:
            return None  # a separator row ("Preview models ||||") or a broken one
        ids = model_ids(row[columns.model])
        if not ids:
            return None
        try:
            day, earliest = parse_date(row[columns.shutdown])
        except ValueError:
            return None
        if day is None:
            return []  # read fine: no shutdown announced
        at = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        replacement = None
        if columns.replacement is not None and columns.replacement < len(row):
            alternatives = model_ids(row[columns.replacement])
            replacement = " or ".join(alternatives) or None
        return [
            Shutdown(
                model=model,
                at=at,
                provider=provider,
                earliest=earliest,
                replacement=replacement,
                source=self.kind,
            )
            for model in ids
        ]


DEPRECATION_SOURCES: dict[str, DeprecationSource] = {
    source.kind: source
    for source in (
        DeprecationSource(
            "gemini_deprecations",
            "Gemini API deprecations (ai.google.dev/gemini-api/docs/deprecations.md.txt)",
        ),
        DeprecationSource(
            "openai_deprecations",
            "OpenAI API deprecations (developers.openai.com/api/docs/deprecations.md)",
        ),
    )
}
