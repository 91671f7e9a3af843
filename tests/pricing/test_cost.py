"""Measured cost from reported usage, with numbers from the providers' own pricing pages."""

from __future__ import annotations

from decimal import Decimal

from monitor.interfaces import PriceUnit, Usage
from monitor.pricing.cost import measured_cost, per_image

PER_M = Decimal("0.000001")


def test_gemini_pro_image_at_1k_costs_its_1120_image_tokens_at_120_per_million() -> None:
    rates = {PriceUnit.IMAGE_OUTPUT_TOKEN: 120 * PER_M, PriceUnit.OUTPUT_TOKEN: 12 * PER_M}
    usage = Usage(output_image_tokens=1120, output_text_tokens=0)
    assert measured_cost(rates, usage) == Decimal("0.1344")


def test_thinking_tokens_are_billed_at_the_text_rate_and_no_flat_image_price_is_added() -> None:
    # Pro at 4K: 2000 image + 340 text + 337 thought tokens (ding113/claude-code-hub #663)
    rates = {
        PriceUnit.IMAGE_OUTPUT_TOKEN: 120 * PER_M,
        PriceUnit.OUTPUT_TOKEN: 12 * PER_M,
        PriceUnit.IMAGE: Decimal("0.24"),
    }
    usage = Usage(output_image_tokens=2000, output_text_tokens=340 + 337)
    assert measured_cost(rates, usage) == Decimal("0.248124")


def test_a_reported_cost_wins_and_per_image_divides_by_images_returned() -> None:
    usage = Usage(images=2, reported_cost_usd=Decimal("0.0672"))
    cost = measured_cost({PriceUnit.IMAGE: Decimal("1")}, usage)
    assert cost == Decimal("0.0672")
    assert per_image(cost, usage) == Decimal("0.0336")


def test_per_run_plus_per_megapixel_prices_a_one_megapixel_flux_image() -> None:
    rates = {PriceUnit.RUN: Decimal("0.015"), PriceUnit.MEGAPIXEL: Decimal("0.015")}
    assert measured_cost(rates, Usage(megapixels=Decimal("1.048576"))) == Decimal("0.030728640")


def test_usage_without_a_matching_rate_has_no_measured_cost() -> None:
    assert (
        measured_cost({PriceUnit.MEGAPIXEL: Decimal("0.03")}, Usage(output_image_tokens=5)) is None
    )
    assert measured_cost({PriceUnit.IMAGE: Decimal("0.03")}, None) is None
