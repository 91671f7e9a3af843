"""Property: whatever text a parser is fed (random, truncated, spliced pages) it returns a
ParseResult or raises PriceParseError, never another exception and never a price <= 0."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pricing_support import OBSERVED, targets

from monitor.interfaces import PriceParseError
from monitor.pricing import SOURCES
from monitor.pricing.base import ParseResult
from monitor.pricing.normalise import parse_price

FIXTURES = Path(__file__).parent.parent / "fixtures" / "pricing"
PAGES = {
    kind: [
        p.read_text(encoding="utf-8")
        for p in sorted((FIXTURES / kind).iterdir())
        if not p.name.endswith(".expected.json")
    ]
    for kind in SOURCES
}
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parse_or_refuse(kind: str, text: str) -> None:
    try:
        result = SOURCES[kind]().parse(
            text, targets=targets(kind), observed_at=OBSERVED, url="https://example.test/page"
        )
    except PriceParseError:
        return
    assert isinstance(result, ParseResult)
    assert all(q.amount > 0 and q.currency == "USD" for q in result.quotes)


@pytest.mark.parametrize("kind", sorted(SOURCES))
@SETTINGS
@given(text=st.text(max_size=2000))
def test_random_text_parses_or_is_refused(kind: str, text: str) -> None:
    parse_or_refuse(kind, text)


@pytest.mark.parametrize("kind", sorted(SOURCES))
@SETTINGS
@given(data=st.data())
def test_truncated_and_spliced_pages_parse_or_are_refused(kind: str, data: st.DataObject) -> None:
    page = data.draw(st.sampled_from(PAGES[kind]))
    cut = data.draw(st.integers(0, len(page)))
    start = data.draw(st.integers(0, len(page)))
    junk = data.draw(st.text(max_size=40))
    parse_or_refuse(kind, page[:cut])
    parse_or_refuse(kind, page[:start] + junk + page[start + len(junk) :])


@SETTINGS
@given(text=st.text(max_size=200))
def test_price_text_normalises_or_is_refused(text: str) -> None:
    try:
        amount, _ = parse_price(text)
    except PriceParseError:
        return
    assert amount > 0
