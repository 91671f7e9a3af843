"""Today's pricing sources end to end: the simulator's pages read by the live catalog's
price refresh over loopback, `provmon prices parse` on each new source's saved page."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from pricing_support import OBSERVED, targets

from monitor.catalogs import load_catalog
from monitor.config import point_at_simulator, simulator_credentials
from monitor.interfaces import PriceUnit
from monitor.pricing import SOURCES
from monitor.pricing.engine import PricingEngine
from monitor.pricing.judge import Verdict
from monitor.store import Store

FIXTURES = Path(__file__).parent.parent / "fixtures" / "pricing"
PROVMON = [sys.executable, "-m", "monitor.cli"]


@pytest.mark.parametrize("catalogs", [("live",), ("live", "imagen4")], ids=["run", "demo"])
async def test_the_live_catalogs_refresh_reads_every_source_from_the_simulator(
    sim_url: str, monkeypatch: pytest.MonkeyPatch, store: Store, catalogs: tuple[str, ...]
) -> None:
    base = load_catalog(*catalogs)  # the demo's merged catalog reads the same pages
    for name, value in simulator_credentials(base).items():
        monkeypatch.setenv(name, value)
    config = point_at_simulator(base, sim_url)
    engine = PricingEngine(config, store, now=lambda: OBSERVED)
    reports = await engine.refresh_all(force=True)
    assert all(r.ok for r in reports), [(r.source, r.failures, r.skipped) for r in reports]
    for offering, entry in config.offerings.items():
        for source in entry.pricing_sources:
            assert engine.quotes(offering, source), (offering, source)
    pro = engine.rates_of("gemini/gemini-3-pro-image")
    assert pro[PriceUnit.IMAGE_OUTPUT_TOKEN] == Decimal("0.00012")
    assert engine.price_of("gemini/gemini-3-pro-image") == Decimal("0.1344")
    assert engine.price_of("openai/gpt-image-2") == Decimal("0.00606")
    assert engine.rates_of("fal/flux-2-pro") == {PriceUnit.MEGAPIXEL: Decimal("0.03")}
    assert engine.price_of("fal/flux-2-pro") == Decimal("0.03145728")
    assert engine.price_of("lumenfall/gemini-3-pro-image") == Decimal("0.134")

    # a rate raised on the simulated Gemini page is a change, and moves what an image costs
    raised = {"source": "gemini_tokens", "offering": "gemini/gemini-3-pro-image"}
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{sim_url}/_sim/price", json={**raised, "amount": "0.00015"})
        answer.raise_for_status()
        try:
            report = await engine.refresh("gemini_tokens", force=True)
            # the image-token rate and the page's per-image equivalent moved together
            assert set(report.offerings(Verdict.CHANGED)) == {"gemini/gemini-3-pro-image"}
            assert engine.price_of("gemini/gemini-3-pro-image") == Decimal("0.168")
        finally:  # the simulator's pages live for the session
            await http.post(f"{sim_url}/_sim/price", json={**raised, "amount": "0.00012"})


@pytest.mark.parametrize(
    ("kind", "path", "offering", "expected"),
    [
        (
            "openrouter_endpoints",
            "/pages/openrouter/api/v1/images/models/bytedance-seed/seedream-4.5/endpoints",
            "openrouter/seedream-4.5",
            {"image": Decimal("0.05")},
        ),
        (
            "bfl_pricing",
            "/pages/bfl/quick_start/pricing.md",
            "bfl/flux-2-pro",
            {"image": Decimal("0.03")},
        ),
    ],
)
def test_pages_of_offerings_awaiting_their_protocol_read_back_through_their_parsers(
    sim_url: str, kind: str, path: str, offering: str, expected: dict[str, Decimal]
) -> None:
    text = httpx.get(sim_url + path).text
    result = SOURCES[kind]().parse(
        text, targets=targets(kind), observed_at=OBSERVED, url=sim_url + path
    )
    assert {q.unit.value: q.amount for q in result.quotes if q.offering == offering} == expected


@pytest.mark.parametrize(
    ("source", "page", "offering", "unit", "amount"),
    [
        (
            "gemini_tokens",
            "gemini_tokens/normal.md.txt",
            "gemini/gemini-3-pro-image",
            "image_output_token",
            "0.00012",
        ),
        (
            "openai_model_page",
            "openai_model_page/normal.md",
            "openai/gpt-image-2",
            "image_output_token",
            "0.00003",
        ),
        (
            "openrouter_endpoints",
            "openrouter_endpoints/normal.json",
            "openrouter/seedream-4.5",
            "image",
            "0.05",
        ),
        ("bfl_pricing", "bfl_pricing/normal.md", "bfl/flux-2-klein-4b", "image", "0.014"),
        (
            "litellm_json",
            "litellm_json/token_priced.json",
            "openai/gpt-image-2",
            "input_token",
            "0.000005",
        ),
    ],
)
def test_prices_parse_reads_each_new_sources_saved_page(
    source: str, page: str, offering: str, unit: str, amount: str
) -> None:
    proc = subprocess.run(
        [*PROVMON, "prices", "parse", source, str(FIXTURES / page), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    quotes = json.loads(proc.stdout)["quotes"]
    found = {(q["offering"], q["unit"]): Decimal(q["amount"]) for q in quotes}
    assert found[(offering, unit)] == Decimal(amount)
    assert all(q["evidence"] for q in quotes)
