"""``/pages/...``: simulated pricing pages in the shape of the real ones, and their controls.

Serves the Gemini pricing page and its ``.md.txt`` twin, the Vertex pricing page (``hl=es``
too), fal model pages and fal's pricing API (``Authorization: Key``), Replicate model pages
(price only in embedded JSON), Lumenfall's ``llms.txt`` and providers page, and LiteLLM's
price file. Prices come from a mutable table keyed by (source kind, offering);
``POST /_sim/price`` changes one and ``POST /_sim/page`` removes a row or breaks a page
(``restructured``, ``js_only``, ``empty``) so the parsers' failure paths can be exercised.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from monitor.sim import pages_live
from monitor.sim._common import Sim
from monitor.sim.pages_aggregators import litellm, lumenfall_html, lumenfall_llms
from monitor.sim.pages_state import (
    _SHELL,
    MODELS,
    SOURCE_PROVIDERS,
    PageModel,
    PageState,
)
from monitor.sim.pages_state import (
    money as _money,
)

FAKE = "fal"
MODES = ("normal", "remove_row", "restructured", "js_only", "empty")


def gemini_html(state: PageState) -> str:
    rows = "".join(
        f'<tr><td>Imagen 4 {m.variant} image price</td><td class="free-tier">Not available</td>'
        f'<td class="paid-tier">{_money(p)}</td></tr>'
        for m, p in state.rows("gemini_page", "gemini")
    )
    ids = ", ".join(f"<code>{m.model}</code>" for m in MODELS)
    if state.broken("gemini_page"):
        body = "".join(
            f'<div class="price-card"><span>Imagen 4 {m.variant}</span> '
            f"<span>{_money(p)}</span></div>"
            for m, p in state.rows("gemini_page", "gemini")
        )
    else:
        body = (
            '<table class="pricing-table"><thead><tr><th></th><th>Free Tier</th>'
            f"<th>Paid Tier, per Image in USD</th></tr></thead><tbody>{rows}"
            '<tr><td>Used to improve our products</td><td><a href="#">Yes</a></td>'
            '<td><a href="#">No</a></td></tr></tbody></table>'
        )
    return (
        "<!doctype html><html><head><title>Gemini Developer API pricing</title>"
        "<style>.pricing-table td{padding:4px}.free-tier{}.paid-tier{}</style></head><body>"
        "<article><h1>Gemini Developer API pricing</h1>"
        '<h2 id="gemini-2.5-flash-image">Gemini 2.5 Flash Image</h2>'
        "<p><em><code>gemini-2.5-flash-image</code></em></p><table><thead><tr><th></th>"
        "<th>Free Tier</th><th>Paid Tier, per 1M tokens in USD</th></tr></thead><tbody>"
        "<tr><td>Output price</td><td>Not available</td><td>$30.00 (images: $0.039 each)"
        "</td></tr></tbody></table>"
        f'<h2 id="imagen-4">Imagen 4</h2><p><em>{ids}</em></p>'
        f"<p>Our latest image generation model.</p>{body}"
        '<h2 id="veo-3">Veo 3</h2><table><tr><th></th><th>Free Tier</th>'
        "<th>Paid Tier, per second in USD</th></tr><tr><td>Video with audio price</td>"
        "<td>Not available</td><td>$0.40</td></tr></table>"
        "<p>Last updated 2026-01-20 UTC.</p></article></body></html>"
    )


def gemini_markdown(state: PageState) -> str:
    listed = state.rows("gemini_markdown", "gemini")
    if state.broken("gemini_markdown"):
        table = "\n".join(f"- Imagen 4 {m.variant}: {_money(p)}" for m, p in listed)
    else:
        table = (
            "|  | Free Tier | Paid Tier, per Image in USD |  |\n|---|---|---|---|\n"
            + "".join(
                f"| Imagen 4 {m.variant} image price | Not available | {_money(p)} |\n"
                for m, p in listed
            )
            + (
                "| Used to improve our products | [Yes](https://ai.google.dev/"
                "gemini-api/terms) | [No](https://ai.google.dev/gemini-api/\nterms) |"
            )
        )
    ids = ", ".join(f"`{m.model}`" for m in MODELS)
    return (
        "# Gemini Developer API pricing\n\n## Gemini 2.5 Flash Image\n\n"
        "|  | Free Tier | Paid Tier, per 1M tokens in USD |\n|---|---|---|\n"
        "| Output price | Not available | $30.00 |\n\n"
        f"## Imagen 4\n\n*{ids}*\n\nOur latest image generation model.\n\n{table}\n\n"
        f"{pages_live.gemini_sections(state)}"
        "## Veo 3\n\n|  | Free Tier | Paid Tier, per second in USD |\n|---|---|---|\n"
        "| Video with audio price | Not available | $0.40 |\n"
    )


def vertex_html(state: PageState, spanish: bool) -> str:
    head = ("Modelo", "Descripción", "Precio") if spanish else ("Model", "Description", "Price")
    cells = []
    for m, p in state.rows("vertex_page", "vertex"):
        price = (
            f"{str(p).replace('.', ',')} USD por imagen" if spanish else f"{_money(p)} per image"
        )
        cells.append(
            f"<tr><td>{m.vertex_label}</td><td>Generate an image from a text prompt."
            f"</td><td>{price}</td></tr>"
        )
    upscale = "0,06 USD por imagen" if spanish else "$0.06 per image"
    cells.append(
        f"<tr><td>Imagen 4 for Upscaling</td><td>Upscale an image.</td><td>{upscale}</td></tr>"
    )
    if state.broken("vertex_page"):
        table = "<ul>" + "".join(f"<li>{m.vertex_label}</li>" for m in MODELS) + "</ul>"
    else:
        table = (
            f"<table><thead><tr><th>{head[0]}</th><th>{head[1]}</th><th>{head[2]}</th>"
            f"</tr></thead><tbody>{''.join(cells)}</tbody></table>"
        )
    title = "Precios de Imagen" if spanish else "Imagen pricing"
    return (
        f"<!doctype html><html><body><h1>Vertex AI pricing</h1><h2>{title}</h2>{table}"
        "</body></html>"
    )


# -- fal --------------------------------------------------------------------------------


def fal_model_page(state: PageState, model: PageModel, markdown: bool) -> str:
    offering = f"fal/{model.model}"
    if offering in state.removed.get("fal_page", set()):
        sentence = "This model is deprecated and no longer available for new requests."
    elif state.broken("fal_page"):
        sentence = "See the OpenAPI schema for billing details."
    else:
        p = state.price("fal_page", offering)
        sentence = (
            f"Your request will cost **{_money(p)}** per image. For $1 you can run this "
            f"model approximately {int(1 / p)} times."
        )
    if markdown:
        return f"# Imagen 4 {model.variant}\n\n`{model.fal}`\n\n## Pricing\n\n{sentence}\n"
    html = sentence.replace("**", "<strong>", 1).replace("**", "</strong>", 1)
    return (
        f'<!doctype html><html><head><link rel="canonical" href="https://fal.ai/models/'
        f'{model.fal}"></head><body><h1>Imagen 4 {model.variant}</h1><p>{model.fal}</p>'
        f"<h2>Pricing</h2><p>{html}</p></body></html>"
    )


def fal_prices(state: PageState, endpoints: list[str]) -> dict[str, Any]:
    if state.broken("fal_pricing_api"):
        return {"data": [{"id": e} for e in endpoints]}
    prices = [
        {"endpoint_id": m.fal, "unit_price": float(p), "unit": "image", "currency": "USD"}
        for m, p in state.rows("fal_pricing_api", "fal")
        if m.fal in endpoints
    ] + pages_live.fal_prices(state, endpoints)
    return {"prices": prices, "has_more": False, "next_cursor": None}


# -- Replicate ---------------------------------------------------------------------------


def replicate_html(state: PageState, model: PageModel) -> str:
    offering = f"replicate/{model.model}"
    owner, name = model.replicate.split("/")
    gone = offering in state.removed.get("replicate_page", set())
    price_key = "amount_text" if state.broken("replicate_page") else "price"
    props = {
        "model": {"owner": owner, "name": name, "is_official": True, "deprecated": gone},
        "pricing": {
            "prices": [
                {
                    "metric": "image_output_count",
                    "title": "output image",
                    price_key: _money(state.price("replicate_page", offering)),
                }
            ]
        },
    }
    return (
        f"<!doctype html><html><head><title>{model.replicate} | Replicate</title>"
        f'<link rel="canonical" href="https://replicate.com/{model.replicate}"></head>'
        f'<body><div id="root"></div><script type="application/json" '
        f'id="react-component-props-model-page">{json.dumps(props)}</script></body></html>'
    )


# -- Lumenfall ---------------------------------------------------------------------------


def _model(**match: str) -> PageModel | None:
    ((attr, value),) = match.items()
    return next((m for m in MODELS if getattr(m, attr) == value), None)


def routes(sim: Sim) -> list[Route]:
    """The pricing pages and their ``/_sim/price`` and ``/_sim/page`` controls."""
    state = PageState()

    def page(source: str, media: str, render: Callable[[], str]) -> Response:
        mode = state.layout.get(source, "normal")
        if mode == "empty":
            return Response(b"", media_type=media)
        if mode == "js_only":
            return Response(_SHELL, media_type="text/html; charset=utf-8")
        return Response(render(), media_type=media)

    html, text, js = "text/html; charset=utf-8", "text/plain; charset=utf-8", "application/json"

    def not_found() -> Response:
        return PlainTextResponse("Not found", status_code=404)

    async def gemini(request: Request) -> Response:
        return page("gemini_page", html, lambda: gemini_html(state))

    async def gemini_md(request: Request) -> Response:
        return page("gemini_markdown", text, lambda: gemini_markdown(state))

    async def vertex(request: Request) -> Response:
        spanish = request.query_params.get("hl") == "es"
        return page("vertex_page", html, lambda: vertex_html(state, spanish))

    async def fal_model(request: Request) -> Response:
        endpoint: str = request.path_params["endpoint_id"]
        markdown = endpoint.endswith(".md")
        model = _model(fal=endpoint.removesuffix(".md").removesuffix("/api"))
        if model is None:
            return not_found()
        return page(
            "fal_page", text if markdown else html, lambda: fal_model_page(state, model, markdown)
        )

    async def fal_pricing(request: Request) -> Response:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme != "Key" or not sim.state.key_ok(FAKE, key.strip()):
            return JSONResponse(
                {"detail": "Invalid or missing API key; send 'Authorization: Key <FAL_KEY>'"},
                status_code=401,
            )
        ids = [e for v in request.query_params.getlist("endpoint_id") for e in v.split(",") if e]
        if not 1 <= len(ids) <= 50:
            return JSONResponse(
                {"detail": "endpoint_id: give 1 to 50 endpoint IDs"}, status_code=422
            )
        return page("fal_pricing_api", js, lambda: json.dumps(fal_prices(state, ids)))

    async def replicate(request: Request) -> Response:
        model = _model(replicate=f"{request.path_params['owner']}/{request.path_params['name']}")
        if model is None:
            return not_found()
        return page("replicate_page", html, lambda: replicate_html(state, model))

    async def lumenfall_txt(request: Request) -> Response:
        model = _model(model=request.path_params["model"])
        if model is None:
            live = pages_live.lumenfall_llms(state, request.path_params["model"])
            return not_found() if live is None else page("lumenfall_llms", text, lambda: live)
        return page("lumenfall_llms", text, lambda: lumenfall_llms(state, model))

    async def lumenfall_page(request: Request) -> Response:
        model = _model(model=request.path_params["model"])
        if model is None:
            return not_found()
        return page("lumenfall_page", html, lambda: lumenfall_html(state, model))

    async def litellm_file(request: Request) -> Response:
        return page("litellm_json", js, lambda: json.dumps(litellm(state), indent=1))

    def guard(request: Request) -> Response | None:
        if not sim.control_enabled:
            return JSONResponse({"detail": "simulator control is disabled"}, status_code=404)
        if sim.control_token:
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), sim.control_token.encode()):
                return JSONResponse({"detail": "control token required"}, status_code=401)
        return None

    async def body_of(request: Request) -> dict[str, Any] | Response:
        try:
            data = json.loads(await request.body() or b"{}")
        except ValueError:
            return JSONResponse({"detail": "body must be JSON"}, status_code=422)
        source = data.get("source") if isinstance(data, dict) else None
        if source not in SOURCE_PROVIDERS:
            return JSONResponse(
                {"detail": f"source must be one of {sorted(SOURCE_PROVIDERS)}"}, status_code=422
            )
        assert isinstance(data, dict)
        return data

    async def set_price(request: Request) -> Response:
        if (denied := guard(request)) is not None:
            return denied
        data = await body_of(request)
        if isinstance(data, Response):
            return data
        try:
            amount = Decimal(str(data["amount"]))
            offering = str(data["offering"])
        except (KeyError, InvalidOperation):
            return JSONResponse({"detail": "give offering and a decimal amount"}, status_code=422)
        if not amount.is_finite() or amount <= 0:
            return JSONResponse({"detail": "amount must be positive"}, status_code=422)
        state.prices[(data["source"], offering)] = amount
        return JSONResponse({"source": data["source"], "offering": offering, "amount": str(amount)})

    async def set_page(request: Request) -> Response:
        if (denied := guard(request)) is not None:
            return denied
        data = await body_of(request)
        if isinstance(data, Response):
            return data
        source, mode, offering = data["source"], data.get("mode"), data.get("offering")
        if mode not in MODES or (mode == "remove_row" and not isinstance(offering, str)):
            return JSONResponse(
                {"detail": f"mode must be one of {MODES}; remove_row needs an offering"},
                status_code=422,
            )
        gone = state.removed.setdefault(source, set())
        if mode == "remove_row":
            gone.add(str(offering))
        elif mode == "normal" and isinstance(offering, str):
            gone.discard(offering)
        elif mode == "normal":
            gone.clear()
            state.layout.pop(source, None)
        else:
            state.layout[source] = mode
        return JSONResponse(
            {"source": source, "mode": state.layout.get(source, "normal"), "removed": sorted(gone)}
        )

    return [
        Route("/pages/gemini/pricing", gemini, methods=["GET"]),
        Route("/pages/gemini/pricing.md.txt", gemini_md, methods=["GET"]),
        Route("/pages/vertex/pricing", vertex, methods=["GET"]),
        Route("/pages/fal/v1/models/pricing", fal_pricing, methods=["GET"]),
        Route("/pages/fal/models/{endpoint_id:path}", fal_model, methods=["GET"]),
        Route("/pages/replicate/{owner}/{name}", replicate, methods=["GET"]),
        Route("/pages/lumenfall/models/google/{model}/llms.txt", lumenfall_txt, methods=["GET"]),
        Route("/pages/lumenfall/models/google/{model}/providers", lumenfall_page, methods=["GET"]),
        Route("/pages/lumenfall/models/google/{model}", lumenfall_page, methods=["GET"]),
        Route("/pages/litellm/model_prices_and_context_window.json", litellm_file, methods=["GET"]),
        *pages_live.routes(state, page),
        Route("/_sim/price", set_price, methods=["POST"]),
        Route("/_sim/page", set_page, methods=["POST"]),
    ]
