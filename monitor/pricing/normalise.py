"""Price text to ``Decimal`` USD per unit: the one place amounts, currencies and units are read.

Pure functions. Accepts what the pricing pages print: ``$0.04``, ``$0.040 /image``, ``2¢``,
``4 cents``, ``0,04 USD por imagen`` (Vertex ``hl=es``), footnote markers and thousands
separators. Amounts keep the digits as listed (``0.0398`` stays ``0.0398``). Anything else
(another currency, an unknown unit, "Not available", zero) raises :class:`PriceFormatError`,
never a price of zero.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from decimal import Decimal, InvalidOperation

from monitor.interfaces import PriceParseError, PriceUnit

#: prices above this are a misread (an image costing more than $100), not a listing
SANE_MAX = Decimal(100)


class PriceFormatError(PriceParseError):
    """A piece of text that should hold a price does not hold a usable USD price."""


_FOOTNOTES = re.compile(r"\[\s*\d{1,2}\s*\]|[*†‡§¶⁰¹²³⁴⁵⁶⁷⁸⁹]+")
_NUMBER = re.compile(r"\d[\d.,\u00a0\u202f]*\d|\d")
_OTHER_CURRENCY = re.compile(
    r"[€£¥₹₩₽]|\b(?:EUR|GBP|JPY|CNY|INR|KRW|BRL|CAD|AUD|CHF|MXN|RUB)\b", re.IGNORECASE
)
_CENTS = re.compile(r"\s*(?:¢|cents?\b|centavos?\b)", re.IGNORECASE)
_FREE = re.compile(
    r"\b(?:not available|free of charge|free|n/?a|no disponible|gratis|unavailable)\b",
    re.IGNORECASE,
)

#: unit words as printed (English and the Spanish Vertex locale) -> unit
_UNITS: dict[str, PriceUnit] = {
    "image": PriceUnit.IMAGE,
    "images": PriceUnit.IMAGE,
    "output image": PriceUnit.IMAGE,
    "output images": PriceUnit.IMAGE,
    "imagen": PriceUnit.IMAGE,
    "imágenes": PriceUnit.IMAGE,
    "imagenes": PriceUnit.IMAGE,
    "img": PriceUnit.IMAGE,
    "megapixel": PriceUnit.MEGAPIXEL,
    "megapixels": PriceUnit.MEGAPIXEL,
    "mp": PriceUnit.MEGAPIXEL,
    "second": PriceUnit.SECOND,
    "seconds": PriceUnit.SECOND,
    "sec": PriceUnit.SECOND,
    "s": PriceUnit.SECOND,
    "segundo": PriceUnit.SECOND,
    "segundos": PriceUnit.SECOND,
}
_UNIT_AFTER = re.compile(
    r"(?:/|\bper\b|\bpor\b|\bcada\b)\s*(?:1\s+)?(?P<unit>[^\s,;.:)]+(?:\s+images?)?)",
    re.IGNORECASE,
)


def clean(text: str) -> str:
    """Text with footnote markers removed and whitespace collapsed (NFKC, no superscripts)."""
    text = _FOOTNOTES.sub("", text)
    text = unicodedata.normalize("NFKC", text)
    text = _FOOTNOTES.sub("", text)  # NFKC turns superscripts into digits: strip before
    return " ".join(text.split())


def parse_unit(text: str) -> PriceUnit:
    """``image``, ``per output image``, ``/ imagen``, ``megapixels`` -> the unit; else raises."""
    words = clean(text).casefold().strip(" ./")
    words = re.sub(r"^(?:per|por|cada)\s+", "", words)
    if words in _UNITS:
        return _UNITS[words]
    if words in {u.value for u in PriceUnit}:
        return PriceUnit(words)
    raise PriceFormatError(f"unknown price unit {text!r} (known: image, megapixel, second)")


def _number(raw: str, *, comma_decimal: bool) -> Decimal:
    digits = re.sub(r"[\u00a0\u202f]", "", raw)
    if "," in digits and "." in digits:
        # both present: the last one is the decimal separator
        decimal_sep = "," if digits.rfind(",") > digits.rfind(".") else "."
    elif "," in digits:
        grouped = re.fullmatch(r"[1-9]\d{0,2}(?:,\d{3})+", digits) is not None
        decimal_sep = "," if comma_decimal or not grouped else ""
    elif digits.count(".") > 1:
        decimal_sep = ""  # 1.234.567: dots are thousands separators
    else:
        decimal_sep = "."
    thousands = {",": ".", ".": ",", "": ",."}[decimal_sep]
    for sep in thousands:
        digits = digits.replace(sep, "")
    digits = digits.replace(",", ".")
    try:
        return Decimal(digits)
    except InvalidOperation:
        raise PriceFormatError(f"not a number: {raw!r}") from None


def parse_amount(text: str) -> Decimal:
    """The USD amount in ``text`` (``$0.04``, ``0,04 USD``, ``2¢``, ``4 cents``); else raises."""
    text = clean(text)
    if _OTHER_CURRENCY.search(text):
        raise PriceFormatError(f"not a USD price: {text!r}")
    match = _NUMBER.search(text)
    if match is None:
        what = "a free or unavailable cell" if _FREE.search(text) else "no amount"
        raise PriceFormatError(f"no price in {text!r} ({what}; never read as $0)")
    # "0,04 USD" (Vertex hl=es) prints USD after a decimal-comma number
    comma_decimal = re.search(r"\d,\d{1,2}(?!\d)", match.group()) is not None
    amount = _number(match.group(), comma_decimal=comma_decimal)
    if _CENTS.match(text, match.end()):
        amount = amount / 100
    if amount <= 0 or amount > SANE_MAX:
        raise PriceFormatError(f"implausible price {amount} in {text!r}")
    return amount


def parse_price(text: str, *, default_unit: PriceUnit | None = None) -> tuple[Decimal, PriceUnit]:
    """Amount and unit from ``$0.040 /image`` or ``0,04 USD por imagen``.

    When the text names no unit, ``default_unit`` (from a table header such as "per Image in
    USD") is used; without one this raises.
    """
    amount = parse_amount(text)
    found = _UNIT_AFTER.search(clean(text))
    if found is not None:
        return amount, parse_unit(found.group("unit"))
    if default_unit is None:
        raise PriceFormatError(f"no unit in {text!r}")
    return amount, default_unit


def content_hash(text: str) -> str:
    """SHA-256 of price-bearing text, insensitive to whitespace, case and footnote markers.

    Hash only the text prices were read from (``ParseResult.price_text()``), not the whole
    page: devsite "Last updated" footers move on edits that change no price.
    """
    return hashlib.sha256(clean(text).casefold().encode("utf-8")).hexdigest()
