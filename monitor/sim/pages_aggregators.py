"""The aggregators' simulated pages: Lumenfall's ``llms.txt`` and providers page (one page
prices every provider of a model) and LiteLLM's price file (a cross-check source)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from monitor.sim import pages_live
from monitor.sim.pages_state import MODELS, PageModel, PageState
from monitor.sim.pages_state import money as _money


def _lumenfall_rows(
    state: PageState, source: str, model: PageModel
) -> list[tuple[str, str, Decimal]]:
    gone = state.removed.get(source, set())
    ids = {
        "vertex": model.model,
        "gemini": model.model,
        "fal": model.fal,
        "replicate": model.replicate,
    }
    return [
        (f"{p}/{model.model}", pm, state.price(source, f"{p}/{model.model}"))
        for p, pm in ids.items()
        if f"{p}/{model.model}" not in gone
    ]


def _starting(
    state: PageState, source: str, model: PageModel, rows: list[tuple[str, str, Decimal]]
) -> Decimal:
    own = (source, f"lumenfall/{model.model}")
    return state.prices.get(own, min((r[2] for r in rows), default=model.default))


def lumenfall_llms(state: PageState, model: PageModel) -> str:
    rows = _lumenfall_rows(state, "lumenfall_llms", model)
    key = "Route" if state.broken("lumenfall_llms") else "Config Key"
    blocks = []
    for offering, provider_model, p in rows:
        pricing = (
            f"- Pricing: ${p:.3f}/image"
            if model.variant == "Ultra"
            else "- Pricing:\n  - Source: official\n  - Currency: USD\n  - Components: "
            f'[{{"type" => "output", "metric" => "image", "unit_price" => {p}}}]\n'
            "  - Effective At: 2026-01-26"
        )
        blocks.append(
            f"### {offering.partition('/')[0]}\n- {key}: {offering}\n"
            f"- Provider Model ID: {provider_model}\n- Region: global\n{pricing}\n"
        )
    start = _starting(state, "lumenfall_llms", model, rows)
    return (
        f"# Imagen 4 {model.variant}\n\n> Google's text-to-image model via Lumenfall.\n\n"
        f"- Model ID: {model.model}\n- Starting from: ${start} per image\n\n"
        "## Providers\n\n" + "\n".join(blocks)
    )


def lumenfall_html(state: PageState, model: PageModel) -> str:
    rows = _lumenfall_rows(state, "lumenfall_page", model)
    label = "Generated image" if state.broken("lumenfall_page") else "Output Image"
    cards = "".join(
        f'<div class="provider-card"><h3>{o.partition("/")[0]}</h3><dl><dt>Config key</dt>'
        f"<dd><code>{o}</code></dd><dt>Provider model ID</dt><dd><code>{pm}</code></dd>"
        f"<dt>{label}</dt><dd><span>{_money(p)}</span> <span>per image</span></dd></dl>"
        "<p>As of Jan 26, 2026</p></div>"
        for o, pm, p in rows
    )
    start = _starting(state, "lumenfall_page", model, rows)
    return (
        f"<!doctype html><html><body><h1>Imagen 4 {model.variant}</h1>"
        f"<p>google/{model.model}</p><p>Starting from <span>{_money(start)}</span> per image"
        f"</p><p>All prices in USD.</p><span>$$ · {int(start * 100)}¢</span>{cards}</body></html>"
    )


def litellm(state: PageState) -> dict[str, Any]:
    """LiteLLM's map; ``restructured`` wraps it as a list, which the parser must refuse."""
    out: dict[str, Any] = {"sample_spec": {"mode": "one of: chat, image_generation, ..."}}
    out |= {
        f"openai/filler-model-{i}": {"mode": "chat", "input_cost_per_token": 1e-06}
        for i in range(25)
    }
    gone = state.removed.get("litellm_json", set())
    for m in MODELS:
        for provider, key in (
            ("vertex", f"vertex_ai/{m.model}"),
            ("gemini", f"gemini/{m.model}"),
            ("fal", f"fal_ai/{m.fal}"),
        ):
            if f"{provider}/{m.model}" not in gone:
                price = state.price("litellm_json", f"{provider}/{m.model}")
                out[key] = {
                    "mode": "image_generation",
                    "output_cost_per_image": float(price),
                    "litellm_provider": provider,
                }
    out |= pages_live.litellm_entries(state)
    if state.broken("litellm_json"):
        return {"models": [{"key": k, **v} for k, v in out.items()]}
    return out


# -- routes ------------------------------------------------------------------------------
