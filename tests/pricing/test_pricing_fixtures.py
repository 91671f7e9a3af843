"""Every saved page under tests/fixtures/pricing/<kind>/ parses to its exact expected result.

Each ``<case>.<ext>`` has a ``<case>.expected.json``: ``{"quotes": {offering: "amount unit"
or ["amount unit", ...] for an offering priced in several units},
"removed": [...]}`` or ``{"error": "<text the PriceParseError message contains>"}``, with an
optional ``"url"`` (per-model pages) and ``"next_cursor"``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pricing_support import OBSERVED, targets

from monitor.interfaces import PriceParseError
from monitor.pricing import SOURCES

FIXTURES = Path(__file__).parent.parent / "fixtures" / "pricing"
CASES = sorted(
    p for p in FIXTURES.glob("*/*") if p.is_file() and not p.name.endswith(".expected.json")
)


def expected_for(page: Path) -> dict[str, Any]:
    name = page.name.split(".", 1)[0]
    data: dict[str, Any] = json.loads(
        (page.parent / f"{name}.expected.json").read_text(encoding="utf-8")
    )
    return data


def test_every_source_kind_has_saved_pages() -> None:
    assert {p.parent.name for p in CASES} == set(SOURCES)


def test_every_saved_page_has_an_expected_result() -> None:
    for page in CASES:
        assert expected_for(page), page


@pytest.mark.parametrize("page", CASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_saved_page_parses_to_its_expected_result(page: Path) -> None:
    kind, expected = page.parent.name, expected_for(page)
    source = SOURCES[kind]()
    text = page.read_text(encoding="utf-8")
    url = str(expected.get("url", f"https://example.test/{kind}"))
    if "error" in expected:
        with pytest.raises(PriceParseError) as caught:
            source.parse(text, targets=targets(kind), observed_at=OBSERVED, url=url)
        assert str(expected["error"]) in str(caught.value)
        return
    result = source.parse(text, targets=targets(kind), observed_at=OBSERVED, url=url)
    # an offering priced in several units (token rates) expects a list of "amount unit"
    got: dict[str, list[str]] = {}
    for q in result.quotes:
        got.setdefault(q.offering, []).append(f"{q.amount} {q.unit}")
    want = {o: sorted(v) if isinstance(v, list) else [v] for o, v in expected["quotes"].items()}
    assert {o: sorted(v) for o, v in got.items()} == want
    assert sorted(result.removed) == sorted(expected["removed"])
    assert result.next_cursor == expected.get("next_cursor")
    for quote in result.quotes:
        assert quote.currency == "USD"
        assert quote.source == kind
        assert quote.observed_at == OBSERVED
        assert quote.source_url == url
        assert quote.evidence
        assert quote.amount > 0
