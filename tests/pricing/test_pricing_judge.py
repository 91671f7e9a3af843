"""Change detection: new, unchanged, changed, held (a big jump until seen twice), removed;
staleness; cross-source disagreement."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from monitor.interfaces import PriceQuote, PriceUnit
from monitor.pricing.base import ParseResult
from monitor.pricing.judge import (
    QuoteKey,
    Verdict,
    disagreements,
    is_stale,
    judge,
    next_state,
)

T0 = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
FAST = "gemini/imagen-4.0-fast-generate-001"
STD = "gemini/imagen-4.0-generate-001"


def q(
    amount: str, offering: str = STD, source: str = "gemini_page", unit: PriceUnit = PriceUnit.IMAGE
) -> PriceQuote:
    return PriceQuote(
        offering=offering,
        amount=Decimal(amount),
        currency="USD",
        unit=unit,
        source=source,
        observed_at=T0,
        evidence=f"{offering} {amount}",
    )


def verdicts(
    previous: dict[QuoteKey, PriceQuote],
    *quotes: PriceQuote,
    removed: tuple[str, ...] = (),
    pending: dict[QuoteKey, PriceQuote] | None = None,
) -> dict[str, Verdict]:
    result = ParseResult(quotes=list(quotes), removed=list(removed))
    return {
        j.offering: j.verdict
        for j in judge(previous, result, source="gemini_page", pending=pending)
    }


def test_a_first_price_is_new() -> None:
    assert verdicts({}, q("0.04")) == {STD: Verdict.NEW}


def test_the_same_price_again_is_unchanged_even_with_other_trailing_zeros() -> None:
    assert verdicts({(STD, "gemini_page", PriceUnit.IMAGE): q("0.04")}, q("0.040")) == {
        STD: Verdict.UNCHANGED
    }


def test_a_move_within_half_is_a_change() -> None:
    prev = {(STD, "gemini_page", PriceUnit.IMAGE): q("0.04")}
    assert verdicts(prev, q("0.05")) == {STD: Verdict.CHANGED}
    assert verdicts(prev, q("0.06")) == {STD: Verdict.CHANGED}  # exactly +50 % is allowed


def test_a_jump_beyond_half_is_held_until_read_twice_in_a_row() -> None:
    accepted = {(STD, "gemini_page", PriceUnit.IMAGE): q("0.04")}
    first = judge(accepted, ParseResult(quotes=[q("0.40")]), source="gemini_page")
    assert [j.verdict for j in first] == [Verdict.HELD]
    assert not first[0].accepted
    accepted, pending = next_state(accepted, {}, first)
    assert accepted[(STD, "gemini_page", PriceUnit.IMAGE)].amount == Decimal("0.04")
    second = judge(accepted, ParseResult(quotes=[q("0.40")]), source="gemini_page", pending=pending)
    assert [j.verdict for j in second] == [Verdict.CHANGED]
    accepted, pending = next_state(accepted, pending, second)
    assert accepted[(STD, "gemini_page", PriceUnit.IMAGE)].amount == Decimal("0.40")
    assert pending == {}


def test_a_held_jump_followed_by_a_different_value_stays_held() -> None:
    prev = {(STD, "gemini_page", PriceUnit.IMAGE): q("0.04")}
    assert verdicts(
        prev, q("0.002"), pending={(STD, "gemini_page", PriceUnit.IMAGE): q("0.40")}
    ) == {STD: Verdict.HELD}


def test_a_unit_change_is_held_like_a_jump() -> None:
    prev = {(STD, "gemini_page", PriceUnit.IMAGE): q("0.04")}
    assert verdicts(prev, q("0.04", unit=PriceUnit.MEGAPIXEL)) == {STD: Verdict.HELD}


def test_removed_offerings_are_removed_and_leave_the_accepted_prices() -> None:
    accepted = {
        (STD, "gemini_page", PriceUnit.IMAGE): q("0.04"),
        (FAST, "gemini_page", PriceUnit.IMAGE): q("0.02", FAST),
    }
    judgements = judge(
        accepted, ParseResult(quotes=[q("0.04")], removed=[FAST]), source="gemini_page"
    )
    assert {j.offering: j.verdict for j in judgements} == {
        STD: Verdict.UNCHANGED,
        FAST: Verdict.REMOVED,
    }
    assert [j.is_change for j in judgements] == [False, True]
    new_accepted, _ = next_state(accepted, {}, judgements)
    assert set(new_accepted) == {(STD, "gemini_page", PriceUnit.IMAGE)}


def test_staleness() -> None:
    day = dt.timedelta(days=1)
    assert is_stale(None, T0, day)
    assert not is_stale(T0 - dt.timedelta(hours=23), T0, day)
    assert is_stale(T0 - dt.timedelta(hours=25), T0, day)


def test_litellm_rounding_is_not_a_disagreement_but_a_cent_is() -> None:
    fal = "fal/imagen-4.0-generate-001"
    by_source = {
        "fal_pricing_api": [q("0.04", fal, "fal_pricing_api")],
        "litellm_json": [q("0.0398", fal, "litellm_json")],
    }
    assert disagreements(by_source) == []
    by_source["muapi"] = [q("0.05", fal, "muapi")]
    [flag] = disagreements(by_source)
    assert flag.offering == fal
    assert (flag.low, flag.high) == (Decimal("0.0398"), Decimal("0.05"))
    assert set(flag.amounts) == {"fal_pricing_api", "litellm_json", "muapi"}


def test_quotes_in_different_units_are_not_compared() -> None:
    by_source = {"a": [q("0.04")], "b": [q("0.10", unit=PriceUnit.MEGAPIXEL)]}
    assert disagreements(by_source) == []
