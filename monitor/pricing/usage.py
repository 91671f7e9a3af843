"""Tokens per image as part of the price: pure judgement of a probe's reported usage.

A token-priced image costs its tokens times the rates. When a model starts spending more
(or fewer) tokens on the same request at unchanged rates (gpt-image-2.5 kept gpt-image-2's
rates but changed the tokens per quality level), what an image costs has changed as surely
as if the rate had: :func:`usage_change` says so. The baseline is the catalog's expected
usage of one probe request until a change is confirmed; like a price jump, a new usage is
confirmed by a second answer that agrees with it (:func:`judge_usage`), so one odd answer
does not move the price.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from monitor.interfaces import PriceUnit, Usage
from monitor.pricing.cost import measured_cost, per_image

#: a per-image cost this far from the baseline's (relative) is a change
DEFAULT_TOLERANCE = Decimal("0.05")


@dataclass(frozen=True, kw_only=True)
class UsageChange:
    """The usage of one request now prices an image differently at the same rates."""

    offering: str
    before: Usage
    after: Usage
    cost_before: Decimal
    cost_after: Decimal

    @property
    def reason(self) -> str:
        return (
            f"{_tokens(self.before)} -> {_tokens(self.after)} per image at unchanged rates: "
            f"${self.cost_before:.6f} -> ${self.cost_after:.6f}"
        )


def _tokens(usage: Usage) -> str:
    parts = [
        f"{usage.output_image_tokens} image tokens" if usage.output_image_tokens else "",
        f"{usage.output_text_tokens} text tokens" if usage.output_text_tokens else "",
        f"{usage.megapixels} MP" if usage.megapixels else "",
    ]
    return ", ".join(p for p in parts if p) or "no tokens"


def image_cost(rates: Mapping[PriceUnit, Decimal], usage: Usage) -> Decimal | None:
    """One image's cost from the usage's own quantities (a reported cost is ignored: it is
    the provider's bill, not what the rates make of the tokens)."""
    return per_image(measured_cost(rates, replace(usage, reported_cost_usd=None)), usage)


def usage_change(
    offering: str,
    rates: Mapping[PriceUnit, Decimal],
    baseline: Usage,
    observed: Usage,
    *,
    tolerance: Decimal = DEFAULT_TOLERANCE,
) -> UsageChange | None:
    """A change when ``observed`` prices one image beyond ``tolerance`` from ``baseline`` at
    the same ``rates``; None when within it or when either cannot be priced by them."""
    before, after = image_cost(rates, baseline), image_cost(rates, observed)
    if before is None or after is None or before <= 0:
        return None
    if abs(after - before) / before <= tolerance:
        return None
    return UsageChange(
        offering=offering, before=baseline, after=observed, cost_before=before, cost_after=after
    )


def judge_usage(
    offering: str,
    rates: Mapping[PriceUnit, Decimal],
    baseline: Usage,
    observed: Usage,
    *,
    pending: Usage | None,
    tolerance: Decimal = DEFAULT_TOLERANCE,
) -> tuple[UsageChange | None, Usage | None]:
    """(a confirmed change, the usage now awaiting confirmation).

    An observation that moves the per-image cost is held; the next one confirms it when it
    prices an image within ``tolerance`` of the held one, and the change is returned (the
    caller makes ``observed`` the new baseline). An observation back at the baseline drops
    what was held."""
    change = usage_change(offering, rates, baseline, observed, tolerance=tolerance)
    if change is None:
        return None, None
    if (
        pending is not None
        and usage_change(offering, rates, pending, observed, tolerance=tolerance) is None
        and image_cost(rates, pending) is not None
    ):
        return change, None
    return None, observed
