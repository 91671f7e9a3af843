"""The registry, targets from the catalog, label matching and fetch plans."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pricing_support import MODELS, OBSERVED, PROVIDER_MODELS, targets

from monitor.catalogs import load_catalog
from monitor.interfaces import PriceUnit
from monitor.pricing import SOURCES
from monitor.pricing.base import match_label
from monitor.pricing.targets import targets_for, targets_for_offerings

FIXTURES = Path(__file__).parent.parent / "fixtures" / "pricing"


def test_the_gemini_page_gives_imagen_4_fast_standard_and_ultra_and_ignores_other_models() -> None:
    page = (FIXTURES / "gemini_page" / "normal.html").read_text(encoding="utf-8")
    result = SOURCES["gemini_page"]().parse(
        page,
        targets=targets("gemini_page"),
        observed_at=OBSERVED,
        url="https://ai.google.dev/gemini-api/docs/pricing",
    )
    prices = {q.offering: (q.amount, q.unit) for q in result.quotes}
    assert prices == {
        "gemini/imagen-4.0-fast-generate-001": (Decimal("0.02"), PriceUnit.IMAGE),
        "gemini/imagen-4.0-generate-001": (Decimal("0.04"), PriceUnit.IMAGE),
        "gemini/imagen-4.0-ultra-generate-001": (Decimal("0.06"), PriceUnit.IMAGE),
    }
    assert result.removed == []
    # the page also lists $0.039 (Gemini 2.5 Flash Image), $0.03 (Imagen 3), $0.40 (Veo)
    assert "Imagen 4 Fast image price" in result.quotes[0].evidence
    assert all("Free" not in q.listed_text for q in result.quotes)


def test_every_source_kind_is_registered_under_its_own_name() -> None:
    assert set(SOURCES) == {
        "gemini_page",
        "gemini_markdown",
        "vertex_page",
        "fal_page",
        "fal_pricing_api",
        "replicate_page",
        "lumenfall_llms",
        "lumenfall_page",
        "litellm_json",
        "gemini_tokens",
        "openai_model_page",
        "openrouter_endpoints",
        "bfl_pricing",
    }
    for kind, source in SOURCES.items():
        assert source.kind == kind
        assert source.expects


def test_targets_come_from_the_catalog_with_display_names() -> None:
    config = load_catalog("imagen4")
    [fast] = targets_for_offerings(config, ["fal/imagen-4.0-fast-generate-001"], PROVIDER_MODELS)
    assert fast.provider == "fal"
    assert fast.model == "imagen-4.0-fast-generate-001"
    assert fast.provider_model == "fal-ai/imagen4/preview/fast"
    assert "Imagen 4 Fast" in fast.labels
    assert fast.family == "imagen-4"
    [lumenfall] = targets_for_offerings(config, ["lumenfall/imagen-4.0-generate-001"])
    assert lumenfall.provider_model == "imagen-4.0-generate-001"  # from the offering's config


def test_targets_for_a_source_are_the_offerings_naming_it() -> None:
    config = load_catalog("imagen4")
    data = config.model_dump(mode="json")
    data["pricing_sources"]["lf"] = {"kind": "lumenfall_llms", "url": "https://x.test/llms.txt"}
    data["offerings"]["lumenfall/imagen-4.0-generate-001"]["pricing_sources"] = ["lf"]
    from monitor.config import parse_config

    picked = targets_for(parse_config(data), "lf")
    assert [t.offering for t in picked] == ["lumenfall/imagen-4.0-generate-001"]
    assert targets_for(config, "lf") == []


def test_row_labels_match_the_longest_display_name_only() -> None:
    ts = targets("gemini_page")
    name = {t.offering: t.model for t in ts}

    def model_of(label: str) -> list[str]:
        return [name[t.offering] for t in match_label(label, ts)]

    assert model_of("Imagen 4 Fast image price") == [MODELS[0]]
    assert model_of("Imagen 4 Standard image price") == [MODELS[1]]
    assert model_of("Imagen 4 Ultra image price*") == [MODELS[2]]
    assert model_of("Imagen 4 for Ultra Generation") == [MODELS[2]]
    assert model_of("Imagen 4 for Upscaling") == []
    assert model_of("Imagen 3 image price") == []
    assert model_of("Output price") == []


def test_per_model_pages_plan_one_url_per_model() -> None:
    plan = SOURCES["fal_page"]().plan("https://fal.ai/models/{provider_model}", targets("fal_page"))
    assert [url for url, _ in plan] == [
        f"https://fal.ai/models/{e}"
        for e in (
            "fal-ai/imagen4/preview/fast",
            "fal-ai/imagen4/preview",
            "fal-ai/imagen4/preview/ultra",
        )
    ]
    lumenfall = SOURCES["lumenfall_llms"]().plan(
        "https://lumenfall.ai/models/google/{model}/llms.txt", targets("lumenfall_llms")
    )
    assert len(lumenfall) == 3 and all(len(ts) == 5 for _, ts in lumenfall)
    single = SOURCES["gemini_page"]().plan("https://ai.google.dev/x", targets("gemini_page"))
    assert len(single) == 1 and len(single[0][1]) == 3


def test_the_fal_pricing_api_batches_ids_and_sends_the_key() -> None:
    source = SOURCES["fal_pricing_api"]()
    [(url, batch)] = source.plan("https://api.fal.ai/v1/models/pricing", targets("fal_page"))
    assert url.endswith(
        "?endpoint_id=fal-ai%2Fimagen4%2Fpreview%2Ffast%2Cfal-ai%2Fimagen4"
        "%2Fpreview%2Cfal-ai%2Fimagen4%2Fpreview%2Fultra"
    )
    assert len(batch) == 3
    assert source.credential_provider == "fal"
    assert source.headers("k") == {"Authorization": "Key k"}
    assert SOURCES["gemini_page"]().headers("k") == {}
