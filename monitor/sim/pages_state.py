"""The simulated pricing pages' state: the models they list, their prices (a mutable table
keyed by source kind and offering) and page modes (a removed row, a broken page)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from monitor.pricing import SOURCES
from monitor.sim import pages_live


@dataclass(frozen=True, kw_only=True)
class PageModel:
    """One model as the pages name it."""

    model: str
    variant: str  # "Fast", "Standard", "Ultra"
    vertex_label: str
    fal: str
    replicate: str
    default: Decimal


MODELS = (
    PageModel(
        model="imagen-4.0-fast-generate-001",
        variant="Fast",
        vertex_label="Imagen 4 for Fast Generation",
        fal="fal-ai/imagen4/preview/fast",
        replicate="google/imagen-4-fast",
        default=Decimal("0.02"),
    ),
    PageModel(
        model="imagen-4.0-generate-001",
        variant="Standard",
        vertex_label="Imagen 4 for Generation",
        fal="fal-ai/imagen4/preview",
        replicate="google/imagen-4",
        default=Decimal("0.04"),
    ),
    PageModel(
        model="imagen-4.0-ultra-generate-001",
        variant="Ultra",
        vertex_label="Imagen 4 for Ultra Generation",
        fal="fal-ai/imagen4/preview/ultra",
        replicate="google/imagen-4-ultra",
        default=Decimal("0.06"),
    ),
)
#: providers each source lists, as offering-id prefixes (declared on each source class)
SOURCE_PROVIDERS: dict[str, tuple[str, ...]] = {k: s.providers for k, s in SOURCES.items()}
#: LiteLLM lists fal's Standard at 0.0398 (pricing-sources.md section 2.6)
_QUIRKS = {("litellm_json", "fal/imagen-4.0-generate-001"): Decimal("0.0398")}
_SHELL = (
    "<!doctype html><html><head><title>Loading…</title>"
    '<script defer src="/static/js/app.3f9c1e.js"></script></head>'
    '<body><div id="root"></div><noscript>You need to enable JavaScript to run this '
    "app.</noscript></body></html>"
)


@dataclass
class PageState:
    """Prices and page modes; lives as long as the simulator app."""

    prices: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    layout: dict[str, str] = field(default_factory=dict)
    removed: dict[str, set[str]] = field(default_factory=dict)

    def price(self, source: str, offering: str) -> Decimal:
        if (source, offering) in self.prices:
            return self.prices[(source, offering)]
        model = offering.partition("/")[2]
        live = pages_live.DEFAULTS.get((source, offering), Decimal("0.04"))
        default = next((m.default for m in MODELS if m.model == model), live)
        return _QUIRKS.get((source, offering), default)

    def rows(self, source: str, provider: str) -> list[tuple[PageModel, Decimal]]:
        """The models a source lists for a provider, with their prices, minus removed rows."""
        gone = self.removed.get(source, set())
        return [
            (m, self.price(source, f"{provider}/{m.model}"))
            for m in MODELS
            if f"{provider}/{m.model}" not in gone
        ]

    def broken(self, source: str) -> bool:
        return self.layout.get(source) == "restructured"


def money(amount: Decimal) -> str:
    return f"${amount}"


# -- Google ------------------------------------------------------------------------------
