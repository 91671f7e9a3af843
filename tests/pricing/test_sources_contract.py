"""The contract every pricing source in ``SOURCES`` keeps, read from its saved pages.

A source's saved pages live in ``tests/fixtures/pricing/<kind>/``: ``normal.<ext>`` (the page
as it is today) and at least one broken page (an ``.expected.json`` with ``"error"``), each
with its expected result (tests/pricing/test_pricing_fixtures.py checks every page exactly).
Here, for every registered source: it declares its kind, what it expects and the providers it
lists; its normal page parses to quotes in USD above zero for the targets it was asked about;
its broken pages raise :class:`PriceParseError`; and its normal page emptied, swapped for a
script-only shell, cut short or with its prices zeroed is refused or still priced, never 0.
A new source gets these tests by being registered and saving its pages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pricing_support import OBSERVED, targets

from monitor.interfaces import PriceParseError
from monitor.pricing import SOURCES
from monitor.pricing.base import ParseResult

FIXTURES = Path(__file__).parent.parent / "fixtures" / "pricing"
KINDS = sorted(SOURCES)


def saved_pages(kind: str) -> dict[str, Path]:
    """The saved pages of a source by case name (``normal``, ``empty``, ...)."""
    return {
        p.name.split(".", 1)[0]: p
        for p in sorted((FIXTURES / kind).glob("*"))
        if p.is_file() and not p.name.endswith(".expected.json")
    }


def expected_for(page: Path) -> dict[str, Any]:
    name = page.name.split(".", 1)[0]
    data: dict[str, Any] = json.loads(
        (page.parent / f"{name}.expected.json").read_text(encoding="utf-8")
    )
    return data


def parse(kind: str, text: str, url: str) -> ParseResult:
    return SOURCES[kind]().parse(text, targets=targets(kind), observed_at=OBSERVED, url=url)


def normal_page(kind: str) -> tuple[str, str]:
    """The text and URL of a source's ``normal`` page."""
    pages = saved_pages(kind)
    assert "normal" in pages, f"save the page as it is today as fixtures/pricing/{kind}/normal.*"
    page = pages["normal"]
    url = str(expected_for(page).get("url") or f"https://example.test/{kind}")
    return page.read_text(encoding="utf-8"), url


def assert_priced(kind: str, result: ParseResult) -> None:
    """Every quote is a USD amount above zero, from this source, for a target it was given."""
    asked = {t.offering for t in targets(kind)}
    for quote in result.quotes:
        assert quote.amount > 0, f"{kind} read {quote.amount} for {quote.offering}"
        assert quote.currency == "USD"
        assert quote.source == kind
        assert quote.offering in asked
        assert quote.evidence


_SHELL = (
    '<!doctype html><html><head><script src="/app.js"></script></head>'
    '<body><div id="root"></div><noscript>Enable JavaScript.</noscript></body></html>'
)
#: a listed amount in the forms the pages print: $0.04, 0,04 USD, 4¢, "unit_price": 0.04
_AMOUNT = re.compile(
    r"(?P<dollar>(?:US)?\$\s?)\d+(?:[.,]\d+)?"
    r"|\d+(?:[.,]\d+)?(?P<suffix>\s*(?:USD|¢|cents?\b))"
    r"|(?P<key>\"(?:unit_price|price|output_cost_per_image|amount|cost_usd)\"\s*:\s*)\d+(?:\.\d+)?"
)


def _zeroed(text: str) -> str:
    def zero(m: re.Match[str]) -> str:
        return f"{m['dollar'] or m['key'] or ''}0{m['suffix'] or ''}"

    return _AMOUNT.sub(zero, text)


#: ways a page breaks in the wild: (damage, must the parser refuse it outright?)
DAMAGE: dict[str, tuple[Callable[[str], str], bool]] = {
    "empty": (lambda text: "", True),
    "script_shell": (lambda text: _SHELL, True),
    "cut_short": (lambda text: text[: len(text) // 3], False),
    "prices_zeroed": (_zeroed, False),
}


@pytest.mark.parametrize("kind", KINDS)
def test_a_source_declares_its_kind_what_it_expects_and_the_providers_it_lists(kind: str) -> None:
    source = SOURCES[kind]
    assert source.kind == kind
    assert source.expects.strip()
    assert source.providers and all(p and "/" not in p for p in source.providers)


@pytest.mark.parametrize("kind", KINDS)
def test_the_normal_saved_page_parses_to_quotes_above_zero(kind: str) -> None:
    text, url = normal_page(kind)
    result = parse(kind, text, url)
    assert result.quotes, f"{kind}: the normal page gave no quote"
    assert result.removed == []
    assert_priced(kind, result)


@pytest.mark.parametrize("kind", KINDS)
def test_the_broken_saved_pages_raise_a_parse_error(kind: str) -> None:
    broken = {n: p for n, p in saved_pages(kind).items() if "error" in expected_for(p)}
    assert broken, f"save at least one broken page under fixtures/pricing/{kind}/"
    for name, page in broken.items():
        url = str(expected_for(page).get("url") or f"https://example.test/{kind}")
        with pytest.raises(PriceParseError):
            parse(kind, page.read_text(encoding="utf-8"), url)
            pytest.fail(f"{kind}/{name} parsed")


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("kind", KINDS)
def test_a_damaged_normal_page_is_refused_or_still_priced_never_zero(
    kind: str, damage: str
) -> None:
    text, url = normal_page(kind)
    spoil, must_refuse = DAMAGE[damage]
    damaged = spoil(text)
    assert damaged != text, f"{damage} left the {kind} page unchanged"
    try:
        result = parse(kind, damaged, url)
    except PriceParseError as exc:
        assert str(exc).strip() and "\n" not in str(exc), "one line that says what failed"
        return
    assert not must_refuse, f"{kind} priced an {damage} page"
    assert_priced(kind, result)


def test_the_simulator_serves_a_page_of_every_source() -> None:
    from test_pricing_sim_pages import URLS

    from monitor.sim import pages_live

    # the seed's sources (tests/pricing/test_pricing_sim_pages.py) and today's models'
    # (tests/pricing/test_live_sources.py refreshes them against the simulator)
    assert set(URLS) | set(pages_live.SOURCE_PROVIDERS) == set(SOURCES)
