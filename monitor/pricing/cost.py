"""Measured cost: what one probe's answer cost, from the usage it reported.

Pure arithmetic over listed rates (``PriceUnit`` -> USD per unit) and a :class:`Usage`.
A provider's own reported cost wins; otherwise each reported quantity is multiplied by its
rate: image output tokens and text output tokens (thinking included) apart, input tokens,
output megapixels, a flat per-run charge, a per-image price. No flat per-image charge is
added on top of token charges (that double-bills token-priced models).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from monitor.interfaces import PriceUnit, Usage

_TOKEN_FIELDS = (
    (PriceUnit.IMAGE_OUTPUT_TOKEN, "output_image_tokens"),
    (PriceUnit.OUTPUT_TOKEN, "output_text_tokens"),
    (PriceUnit.INPUT_TOKEN, "input_tokens"),
)


def measured_cost(rates: Mapping[PriceUnit, Decimal], usage: Usage | None) -> Decimal | None:
    """The cost of one answer, or None when its usage cannot be priced with these rates."""
    if usage is None:
        return None
    if usage.reported_cost_usd is not None:
        return usage.reported_cost_usd
    total = Decimal(0)
    priced = False
    token_priced = False
    for unit, name in _TOKEN_FIELDS:
        count = getattr(usage, name)
        if count is not None and unit in rates:
            total += rates[unit] * count
            priced = token_priced = True
    if PriceUnit.MEGAPIXEL in rates and usage.megapixels is not None:
        total += rates[PriceUnit.MEGAPIXEL] * usage.megapixels
        priced = True
    if PriceUnit.RUN in rates and priced:
        total += rates[PriceUnit.RUN]
    if not token_priced and PriceUnit.IMAGE in rates:
        total += rates[PriceUnit.IMAGE] * usage.images
        priced = True
    return total if priced else None


def per_image(cost: Decimal | None, usage: Usage | None) -> Decimal | None:
    """The effective cost of one image of an answer (its cost over the images it returned)."""
    if cost is None or usage is None or usage.images <= 0:
        return None
    return cost / usage.images
