"""An offering's rates and the usage of one probe request: do they price it, and agree?

An offering priced by token, megapixel or run gives its ``rates`` (USD per unit; token
rates per single token, so "$30 per 1M" is 0.00003) and the ``usage`` of one probe
request; :func:`rates_problem` checks that the rates can price that usage and agree with
the listed per-image price. Pure: the config validates with it, the price book prices with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from monitor.interfaces import PriceUnit, Usage
from monitor.pricing.cost import measured_cost, per_image

#: how far the listed per-image price may sit from rates x usage (pages round)
LISTED_TOLERANCE = Decimal("0.1")


class ExpectedUsage(BaseModel):
    """What one probe request of the offering consumes (its cheapest request)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    images: Annotated[int, Field(ge=1, le=10)] = 1
    output_image_tokens: Annotated[int, Field(ge=0)] | None = None
    #: text output tokens, thinking included
    output_text_tokens: Annotated[int, Field(ge=0)] | None = None
    input_tokens: Annotated[int, Field(ge=0)] | None = None
    megapixels: Annotated[Decimal, Field(gt=0, le=100)] | None = None


#: the usage field each rate needs to price a request
_RATE_NEEDS = {
    PriceUnit.IMAGE_OUTPUT_TOKEN: "output_image_tokens",
    PriceUnit.OUTPUT_TOKEN: "output_text_tokens",
    PriceUnit.INPUT_TOKEN: "input_tokens",
    PriceUnit.MEGAPIXEL: "megapixels",
}


def as_usage(expected: ExpectedUsage | None) -> Usage:
    """The usage a probe answer would report for the expected one (one image if unset)."""
    return Usage(**(expected or ExpectedUsage()).model_dump())


def rates_price(rates: Mapping[PriceUnit, Decimal], usage: Usage) -> Decimal | None:
    """One image's cost at ``rates`` for one request's ``usage``; None when they cannot
    price it (no rates, or none that applies)."""
    return per_image(measured_cost(rates, usage), usage) if rates else None


def rates_problem(
    rates: Mapping[PriceUnit, Decimal], expected: ExpectedUsage | None, listed: Decimal | None
) -> str | None:
    """Why an offering's rates, usage and listed price do not fit together, or None."""
    for unit, needs in _RATE_NEEDS.items():
        if unit in rates and getattr(expected, needs, None) is None:
            return f"rates.{unit.value} needs usage.{needs} (per probe request)"
    computed = rates_price(rates, as_usage(expected))
    if listed and computed is not None and abs(computed - listed) / listed > LISTED_TOLERANCE:
        return f"listed_price_usd {listed} disagrees with rates x usage = {computed:.6f}"
    return None
