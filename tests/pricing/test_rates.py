"""Multi-unit rates in the pricing book: a token-priced image's cost from the provider's own
page, measured vs listed cost per image, and tokens per image moving as a price change."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from pricing_support import OBSERVED

from monitor.catalogs import load_catalog
from monitor.interfaces import Gauge, Kind, Outcome, PriceUnit, ProbeResult, Usage
from monitor.pricing import SOURCES
from monitor.pricing.engine import PricingEngine
from monitor.pricing.state import PriceBook
from monitor.pricing.targets import targets_for
from monitor.pricing.usage import usage_change
from monitor.runner import rates_for

FIXTURES = Path(__file__).parent.parent / "fixtures" / "pricing"
PRO = "gemini/gemini-3-pro-image"
GPT = "openai/gpt-image-2"


def _book_with_pages(store: Any = None) -> PriceBook:
    """The live catalog's book, with the saved Gemini and OpenAI pages' quotes accepted."""
    config = load_catalog("live")
    book = PriceBook(config, now=lambda: OBSERVED) if store is None else None
    quotes = []
    for kind, page in (
        ("gemini_tokens", "gemini_tokens/normal.md.txt"),
        ("openai_model_page", "openai_model_page/normal.md"),
    ):
        text = (FIXTURES / page).read_text(encoding="utf-8")
        targets = [t for t in targets_for(config, kind) if t.offering in (PRO, GPT)]
        quotes += SOURCES[kind]().parse(text, targets=targets, observed_at=OBSERVED, url="u").quotes
    if store is not None:
        store.save_quotes(quotes, content_hash="h")
        engine = PricingEngine(config, store, now=lambda: OBSERVED)
        engine.restore(store.latest_price_events(), store.fetch_states())
        return engine
    assert book is not None
    from monitor.store import PriceQuoteRow

    rows = [
        PriceQuoteRow(
            id=i + 1,
            offering=q.offering,
            source=q.source,
            amount=str(q.amount),
            currency=q.currency,
            unit=q.unit.value,
            observed_at=q.observed_at,
            status="accepted",
        )
        for i, q in enumerate(quotes)
    ]
    book.restore(rows, [])
    return book


def _result(offering: str, usage: Usage, measured: Decimal | None = None) -> ProbeResult:
    provider, _, model = offering.partition("/")
    return ProbeResult(
        probe_id=uuid.uuid4().hex,
        offering=offering,
        provider=provider,
        model=model,
        vantage="local",
        kind=Kind.GENERATE,
        outcome=Outcome.OK,
        started_at=OBSERVED,
        phases={},
        usage=usage,
        measured_cost_usd=measured,
    )


def test_gemini_3_pro_image_at_1k_costs_1120_image_tokens_at_the_pages_120_per_million() -> None:
    book = _book_with_pages()
    rates = book.rates_of(PRO)
    assert rates[PriceUnit.IMAGE_OUTPUT_TOKEN] == Decimal("0.00012")  # "$120.00 (images)"
    assert rates[PriceUnit.OUTPUT_TOKEN] == Decimal("0.000012")  # "$12.00 (text and thinking)"
    assert book.price_of(PRO) == Decimal("0.1344")  # the page: "equivalent to $0.134"
    # the runner prices a reported usage with the same rates
    usage = Usage(output_image_tokens=1120, output_text_tokens=300, input_tokens=14)
    from monitor.pricing.cost import measured_cost

    cost = measured_cost(rates_for(book, PRO), usage)
    assert cost == Decimal("0.1344") + Decimal("0.0036") + Decimal("0.000028")


def test_gpt_image_2_low_at_1024_costs_about_six_tenths_of_a_cent() -> None:
    book = _book_with_pages()
    rates = book.rates_of(GPT)
    assert rates[PriceUnit.IMAGE_OUTPUT_TOKEN] == Decimal("0.00003")
    assert rates[PriceUnit.IMAGE] == Decimal("0.006")  # the page's per-image table, kept too
    price = book.price_of(GPT)
    assert price is not None and abs(price - Decimal("0.006")) < Decimal("0.0001")


def test_multi_unit_quotes_survive_the_store_on_sqlite_and_postgresql(store: Any) -> None:
    book = _book_with_pages(store)
    assert book.price_of(PRO) == Decimal("0.1344")
    assert set(book.rates_of(PRO)) == {
        PriceUnit.INPUT_TOKEN,
        PriceUnit.OUTPUT_TOKEN,
        PriceUnit.IMAGE_OUTPUT_TOKEN,
        PriceUnit.IMAGE,  # the page's "equivalent to $0.134 per image", not added on top
    }
    shown = {(r.offering, r.unit) for r in book.rows_for_show() if r.offering == PRO}
    assert ("gemini/gemini-3-pro-image", "image_output_token") in shown


def test_until_a_source_is_read_the_catalogs_rates_price_the_image() -> None:
    book = PriceBook(load_catalog("live"), now=lambda: OBSERVED)
    assert book.rates_of("fal/mai-image-2.7") == {PriceUnit.IMAGE_OUTPUT_TOKEN: Decimal("0.000034")}
    assert book.price_of("fal/mai-image-2.7") == Decimal("0.034816")
    assert book.price_of("replicate/flux-2-pro") == Decimal("0.03072864")  # run + 1.05 MP
    assert book.rates_of("xai/grok-imagine-image") == {PriceUnit.IMAGE: Decimal("0.02")}


def test_listed_and_measured_cost_per_image_are_exported_per_offering() -> None:
    book = _book_with_pages()
    assert not [r for r in book.gauges() if r.labels.get("basis") == "measured"]
    book.observe(_result(PRO, Usage(output_image_tokens=1120), measured=Decimal("0.1344")))
    rows = {
        (r.labels["offering"], r.labels["basis"]): r.value
        for r in book.gauges()
        if r.name == Gauge.COST_PER_IMAGE
    }
    assert rows[(PRO, "listed")] == rows[(PRO, "measured")] == 0.1344
    assert (GPT, "measured") not in rows  # no answer yet
    per_offering = [k for k in rows if k[0] == PRO]
    assert len(per_offering) == 2


def test_more_tokens_per_image_at_unchanged_rates_is_a_price_change_once_confirmed() -> None:
    book = _book_with_pages()
    changes: list[tuple[str, str]] = []
    book.on_usage_change = lambda o, s: changes.append((o, s))
    more = Usage(output_image_tokens=1290, output_text_tokens=0)
    # one odd answer is held, an answer back at the baseline drops it
    assert book.observe(_result(PRO, more)) is None
    assert book.observe(_result(PRO, Usage(output_image_tokens=1120))) is None
    assert book.observe(_result(PRO, more)) is None
    change = book.observe(_result(PRO, more))
    assert change is not None and changes == [(PRO, "usage")]
    assert change.cost_before == Decimal("0.1344") and change.cost_after == Decimal("0.1548")
    assert "1120 image tokens -> 1290 image tokens" in change.reason
    assert book.price_of(PRO) == Decimal("0.1548")  # what a probe image now costs
    assert book.rates_of(PRO)[PriceUnit.IMAGE_OUTPUT_TOKEN] == Decimal("0.00012")


def test_usage_change_is_pure_and_ignores_small_moves_and_per_image_prices() -> None:
    rates = {PriceUnit.IMAGE_OUTPUT_TOKEN: Decimal("0.00003")}
    base = Usage(output_image_tokens=200)
    assert usage_change("o", rates, base, Usage(output_image_tokens=205)) is None  # 2.5 %
    moved = usage_change("o", rates, base, Usage(output_image_tokens=272))
    assert moved is not None and moved.cost_after == Decimal("0.00816")
    per_image_rates = {PriceUnit.IMAGE: Decimal("0.02")}
    assert usage_change("o", per_image_rates, base, Usage(output_image_tokens=999)) is None
    # a provider-reported cost is the bill, not tokens x rates: it does not hide a move
    billed = Usage(output_image_tokens=272, reported_cost_usd=Decimal("0.006"))
    assert usage_change("o", rates, base, billed) is not None


def test_a_unit_no_longer_read_goes_once_the_new_reading_is_accepted() -> None:
    from monitor.interfaces import PriceQuote
    from monitor.pricing.base import ParseResult
    from monitor.pricing.judge import Verdict, judge, next_state

    def q(amount: str, unit: PriceUnit) -> PriceQuote:
        return PriceQuote(
            offering=PRO,
            amount=Decimal(amount),
            currency="USD",
            unit=unit,
            source="s",
            observed_at=OBSERVED,
            evidence="e",
        )

    accepted = {(PRO, "s", PriceUnit.IMAGE): q("0.134", PriceUnit.IMAGE)}
    tokens = [q("0.00012", PriceUnit.IMAGE_OUTPUT_TOKEN), q("0.000012", PriceUnit.OUTPUT_TOKEN)]
    first = judge(accepted, ParseResult(quotes=tokens), source="s")
    assert {j.verdict for j in first} == {Verdict.HELD}  # a unit change, like a jump
    accepted, pending = next_state(accepted, {}, first)
    assert set(accepted) == {(PRO, "s", PriceUnit.IMAGE)}
    second = judge(accepted, ParseResult(quotes=tokens), source="s", pending=pending)
    assert {j.verdict for j in second} == {Verdict.CHANGED}
    accepted, pending = next_state(accepted, pending, second)
    assert {k[2] for k in accepted} == {PriceUnit.IMAGE_OUTPUT_TOKEN, PriceUnit.OUTPUT_TOKEN}
    assert pending == {}


def test_the_cost_gauges_are_valid_exposition_with_help_and_two_series_per_offering() -> None:
    from prometheus_client import CollectorRegistry
    from prometheus_client.parser import text_string_to_metric_families

    from monitor.metrics import Metrics

    book = _book_with_pages()
    book.observe(_result(PRO, Usage(output_image_tokens=1290), measured=Decimal("0.1548")))
    metrics = Metrics(CollectorRegistry(auto_describe=True))
    metrics.add_gauges(book.gauges)
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    family = families["provmon_cost_per_image_usd"]
    assert family.type == "gauge" and family.documentation
    values = {(s.labels["offering"], s.labels["basis"]): s.value for s in family.samples}
    assert values[(PRO, "listed")] == 0.1344  # one answer does not move the listed price
    assert values[(PRO, "measured")] == 0.1548
    assert len([k for k in values if k[0] == PRO]) == 2
    assert len(values) == len(load_catalog("live").enabled_offerings()) + 1


async def test_a_restarted_engine_prices_from_the_last_answers_usage_without_a_new_change(
    store: Any,
) -> None:
    config = load_catalog("live")
    more = Usage(output_image_tokens=1290, output_text_tokens=0)
    for _ in range(2):
        assert store.save_result(_result(PRO, more, measured=Decimal("0.1548")))
    engine = PricingEngine(config, store, now=lambda: OBSERVED)
    changes: list[tuple[str, str]] = []
    engine.on_usage_change = lambda o, s: changes.append((o, s))
    await engine.load()
    assert engine.price_of(PRO) == Decimal("0.1548")  # catalog rates x the answers' usage
    assert engine.measured_per_image(PRO) == Decimal("0.1548")
    assert engine.price_of(GPT) == Decimal("0.00606")  # no answers: the catalog's usage
    assert engine.observe(_result(PRO, more)) is None  # already the usage: no change
    assert changes == []


def test_more_tokens_per_image_on_the_page_at_the_same_rate_is_judged_a_price_change() -> None:
    from monitor.pricing.judge import judge, next_state, quote_key

    config = load_catalog("live")
    targets = [t for t in targets_for(config, "gemini_tokens") if t.offering == PRO]
    page = (FIXTURES / "gemini_tokens" / "normal.md.txt").read_text(encoding="utf-8")
    # Google's footnote now says a 1K image takes 1290 tokens: the rate itself is unchanged
    more = page.replace(
        "consume 1120 tokens and are equivalent to $0.134",
        "consume 1290 tokens and are equivalent to $0.155",
    )
    source = SOURCES["gemini_tokens"]()
    before = source.parse(page, targets=targets, observed_at=OBSERVED, url="u")
    after = source.parse(more, targets=targets, observed_at=OBSERVED, url="u")
    accepted, _ = next_state({}, {}, judge({}, before, source="gemini_tokens"))
    verdicts = {
        j.quote.unit: j.verdict
        for j in judge(accepted, after, source="gemini_tokens")
        if j.quote is not None
    }
    assert verdicts[PriceUnit.IMAGE_OUTPUT_TOKEN].value == "unchanged"
    assert verdicts[PriceUnit.IMAGE].value == "changed"  # $0.134 -> $0.155 per image
    assert all(k == quote_key(q, "gemini_tokens") for k, q in accepted.items())
