"""The simulator's pricing pages read back through their own parsers, and the controls
(``/_sim/price``, ``/_sim/page``) show up in what the parsers read."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pricing_support import OBSERVED, targets
from starlette.applications import Starlette
from starlette.testclient import TestClient

from monitor.interfaces import PriceParseError
from monitor.pricing import SOURCES
from monitor.pricing.base import ParseResult
from monitor.sim import pages
from monitor.sim._common import Sim

BASE = "http://testserver"
URLS = {
    "gemini_page": "/pages/gemini/pricing",
    "gemini_markdown": "/pages/gemini/pricing.md.txt",
    "vertex_page": "/pages/vertex/pricing",
    "fal_page": "/pages/fal/models/{provider_model}",
    "fal_pricing_api": "/pages/fal/v1/models/pricing",
    "replicate_page": "/pages/replicate/{provider_model}",
    "lumenfall_llms": "/pages/lumenfall/models/google/{model}/llms.txt",
    "lumenfall_page": "/pages/lumenfall/models/google/{model}/providers",
    "litellm_json": "/pages/litellm/model_prices_and_context_window.json",
}
DEFAULTS = {"fast-": Decimal("0.02"), "": Decimal("0.04"), "ultra-": Decimal("0.06")}


def client(token: str | None = None, control: bool = True) -> TestClient:
    sim = Sim(control_enabled=control, control_token=token)
    return TestClient(Starlette(routes=pages.routes(sim)))


def read(http: TestClient, kind: str, url: str | None = None) -> ParseResult:
    """Fetch every planned URL of a source from the simulator and merge the parses."""
    source = SOURCES[kind]()
    quotes, removed = [], []
    for page_url, page_targets in source.plan(BASE + (url or URLS[kind]), targets(kind)):
        response = http.get(page_url, headers=source.headers("sim-fal-key"))
        assert response.status_code == 200, response.text
        result = source.parse(
            response.text, targets=page_targets, observed_at=OBSERVED, url=page_url
        )
        quotes += result.quotes
        removed += result.removed
    return ParseResult(quotes=quotes, removed=removed)


def expected(offering: str, kind: str) -> Decimal:
    if (kind, offering) == ("litellm_json", "fal/imagen-4.0-generate-001"):
        return Decimal("0.0398")
    variant = offering.split("imagen-4.0-")[1].removesuffix("generate-001")
    return DEFAULTS[variant]


@pytest.mark.parametrize("kind", sorted(URLS))
def test_each_simulated_page_parses_to_the_default_prices(kind: str) -> None:
    result = read(client(), kind)
    got = {q.offering: q.amount for q in result.quotes}
    assert got == {t.offering: expected(t.offering, kind) for t in targets(kind)}
    assert result.removed == []


def test_the_spanish_vertex_page_parses_to_the_same_prices() -> None:
    result = read(client(), "vertex_page", "/pages/vertex/pricing?hl=es")
    assert sorted(q.amount for q in result.quotes) == sorted(DEFAULTS.values())


@pytest.mark.parametrize("kind", sorted(URLS))
def test_a_price_set_through_the_control_route_is_what_the_parser_reads(kind: str) -> None:
    http = client()
    offering = targets(kind)[0].offering
    response = http.post(
        "/_sim/price", json={"source": kind, "offering": offering, "amount": "0.05"}
    )
    assert response.status_code == 200
    got = {q.offering: q.amount for q in read(http, kind).quotes}
    assert got[offering] == Decimal("0.05")


@pytest.mark.parametrize("kind", [k for k in sorted(URLS) if k not in ("fal_pricing_api",)])
def test_a_removed_row_is_reported_as_removed(kind: str) -> None:
    http = client()
    offering = targets(kind)[1].offering
    http.post("/_sim/page", json={"source": kind, "mode": "remove_row", "offering": offering})
    result = read(http, kind)
    assert offering in result.removed
    assert offering not in {q.offering for q in result.quotes}
    http.post("/_sim/page", json={"source": kind, "mode": "normal"})
    assert read(http, kind).removed == []


def test_an_endpoint_gone_from_the_fal_pricing_api_is_a_failure_not_a_removal() -> None:
    http = client()
    http.post(
        "/_sim/page",
        json={
            "source": "fal_pricing_api",
            "mode": "remove_row",
            "offering": "fal/imagen-4.0-generate-001",
        },
    )
    with pytest.raises(PriceParseError, match=r"fal/imagen-4\.0-generate-001"):
        read(http, "fal_pricing_api")


@pytest.mark.parametrize("mode", ["restructured", "js_only", "empty"])
@pytest.mark.parametrize("kind", sorted(URLS))
def test_a_broken_page_is_a_parse_failure_never_a_price(kind: str, mode: str) -> None:
    http = client()
    assert http.post("/_sim/page", json={"source": kind, "mode": mode}).status_code == 200
    with pytest.raises(PriceParseError):
        read(http, kind)


def test_the_fal_pricing_api_requires_a_valid_key() -> None:
    http = client()
    url = "/pages/fal/v1/models/pricing?endpoint_id=fal-ai/imagen4/preview"
    assert http.get(url).status_code == 401
    denied = http.get(url, headers={"Authorization": "Key wrong"})
    assert denied.status_code == 401 and "detail" in denied.json()
    ok = http.get(url, headers={"Authorization": "Key sim-fal-key"})
    assert ok.json()["prices"] == [
        {
            "endpoint_id": "fal-ai/imagen4/preview",
            "unit_price": 0.04,
            "unit": "image",
            "currency": "USD",
        }
    ]


def test_controls_are_off_unless_enabled_and_need_the_token_when_set() -> None:
    body = {"source": "gemini_page", "offering": "gemini/imagen-4.0-generate-001", "amount": "0.05"}
    assert client(control=False).post("/_sim/price", json=body).status_code == 404
    guarded = client(token="s3cret")
    assert guarded.post("/_sim/price", json=body).status_code == 401
    ok = guarded.post("/_sim/price", json=body, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"source": "nope", "offering": "x/y", "amount": "1"},
        {"source": "gemini_page", "offering": "gemini/x", "amount": "zero"},
        {"source": "gemini_page", "offering": "gemini/x", "amount": "-1"},
        {"source": "gemini_page", "mode": "sideways"},
        {"source": "gemini_page", "mode": "remove_row"},
    ],
)
def test_bad_control_bodies_are_rejected(body: dict[str, str]) -> None:
    http = client()
    route = "/_sim/price" if "amount" in body else "/_sim/page"
    assert http.post(route, json=body).status_code == 422


def test_unknown_models_are_404() -> None:
    http = client()
    assert http.get("/pages/fal/models/fal-ai/flux/dev").status_code == 404
    assert http.get("/pages/replicate/google/imagen-3").status_code == 404
    assert http.get("/pages/lumenfall/models/google/imagen-3/llms.txt").status_code == 404
