"""Price text normalises to Decimal USD per unit, or fails loudly: a table of listed forms."""

from __future__ import annotations

from decimal import Decimal

import pytest

from monitor.interfaces import PriceParseError, PriceUnit
from monitor.pricing.normalise import (
    PriceFormatError,
    _number,
    content_hash,
    parse_amount,
    parse_price,
    parse_unit,
)

IMAGE, MP, SECOND = PriceUnit.IMAGE, PriceUnit.MEGAPIXEL, PriceUnit.SECOND


@pytest.mark.parametrize(
    ("text", "amount", "unit"),
    [
        ("$0.04", "0.04", IMAGE),
        ("$0.040 /image", "0.040", IMAGE),
        ("$0.060/image", "0.060", IMAGE),
        ("2¢", "0.02", IMAGE),
        ("2 ¢ /image", "0.02", IMAGE),
        ("4 cents", "0.04", IMAGE),
        ("0,04 USD", "0.04", IMAGE),
        ("0,04 USD por imagen", "0.04", IMAGE),
        ("US$0.04 / imagen", "0.04", IMAGE),
        ("USD 0.04 per image", "0.04", IMAGE),
        ("$0.04*", "0.04", IMAGE),
        ("$0.04†", "0.04", IMAGE),
        ("$0.04 [1]", "0.04", IMAGE),
        ("$0.04¹", "0.04", IMAGE),
        ("$0.0398", "0.0398", IMAGE),
        ("$12.50 per image", "12.50", IMAGE),
        ("$0.04 per output image", "0.04", IMAGE),
        ("$0.025 per megapixel", "0.025", MP),
        ("$0.40 per second", "0.40", SECOND),
        ("0,40 USD por segundo", "0.40", SECOND),
        ("**$0.04** per image", "0.04", IMAGE),
    ],
)
def test_listed_price_text_normalises_to_decimal_usd_per_unit(
    text: str, amount: str, unit: PriceUnit
) -> None:
    got_amount, got_unit = parse_price(text, default_unit=IMAGE)
    assert got_amount == Decimal(amount)
    assert str(got_amount) == amount  # digits kept as listed
    assert got_unit is unit


@pytest.mark.parametrize(
    ("text", "comma_decimal", "amount"),
    [
        ("1,234.50", False, "1234.50"),
        ("1.234,50", False, "1234.50"),
        ("1,234", False, "1234"),
        ("0,040", False, "0.040"),
        ("0,04", True, "0.04"),
        ("1.234.567", False, "1234567"),
        ("0.0398", False, "0.0398"),
    ],
)
def test_separators_are_read_by_position(text: str, comma_decimal: bool, amount: str) -> None:
    assert _number(text, comma_decimal=comma_decimal) == Decimal(amount)


def test_thousands_separated_prices_above_the_sane_maximum_are_misreads() -> None:
    with pytest.raises(PriceFormatError, match="implausible"):
        parse_amount("$1,234.50")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Not available", "never read as"),
        ("Free of charge", "never read as"),
        ("Free", "never read as"),
        ("", "no amount"),
        ("€0.04", "not a USD price"),
        ("0,04 EUR", "not a USD price"),
        ("£0.03", "not a USD price"),
        ("$0.00", "implausible"),
        ("$250", "implausible"),
    ],
)
def test_text_without_a_usable_usd_price_is_rejected(text: str, message: str) -> None:
    with pytest.raises(PriceFormatError, match=message):
        parse_amount(text)


@pytest.mark.parametrize("text", ["$30 per 1M tokens", "$0.10 per request", "$0.5 per video"])
def test_unknown_units_are_rejected(text: str) -> None:
    with pytest.raises(PriceFormatError, match="unknown price unit"):
        parse_price(text)


def test_a_price_without_a_unit_needs_a_default() -> None:
    with pytest.raises(PriceFormatError, match="no unit"):
        parse_price("$0.04")
    assert parse_price("$0.04", default_unit=IMAGE) == (Decimal("0.04"), IMAGE)


@pytest.mark.parametrize(
    ("word", "unit"),
    [("images", IMAGE), ("per output image", IMAGE), ("megapixels", MP), ("seconds", SECOND)],
)
def test_unit_words(word: str, unit: PriceUnit) -> None:
    assert parse_unit(word) is unit


def test_format_errors_are_parse_errors_so_sources_report_them_as_such() -> None:
    assert issubclass(PriceFormatError, PriceParseError)


def test_content_hash_ignores_layout_noise_but_not_prices() -> None:
    base = content_hash("Imagen 4 Fast image price | $0.02")
    assert content_hash("  imagen 4 fast   image price |\n $0.02* ") == base
    assert content_hash("Imagen 4 Fast image price | $0.03") != base
    assert len(base) == 64
