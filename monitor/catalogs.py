"""The catalogs shipped with provmon, how several merge, and what an offering's rates need.

``live`` (today's models) is the default of ``provmon run``; ``provmon demo`` runs ``live``
and ``imagen4`` merged, so the retired Imagen 4 offerings show beside the live ones.

An offering priced by token, megapixel or run gives its ``rates`` (USD per unit; token
rates per single token, so "$30 per 1M" is 0.00003) and the ``usage`` of one probe
request; :func:`rates_problem` checks that the rates can price that usage and agree with
the listed per-image price.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from importlib import resources
from typing import TYPE_CHECKING, Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from monitor.interfaces import PriceUnit, Usage
from monitor.pricing.cost import measured_cost, per_image

if TYPE_CHECKING:
    from monitor.config import Config

#: the catalogs shipped with provmon, by name; ``live`` is the default
CATALOGS = {"live": "catalog/live.yaml", "imagen4": "catalog/imagen4.yaml"}
DEFAULT_CATALOG = "live"
#: what ``provmon demo`` shows: today's models, and Imagen 4 as the example of retirement
DEMO_CATALOGS = ("live", "imagen4")
#: how far the listed per-image price may sit from rates x usage (pages round)
LISTED_TOLERANCE = Decimal("0.1")


class ExpectedUsage(BaseModel):
    """What one probe request of the offering consumes (its cheapest request)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    images: Annotated[int, Field(ge=1, le=10)] = 1
    output_image_tokens: Annotated[int, Field(ge=0)] | None = None
    #: text output tokens, thinking included
    output_text_tokens: Annotated[int, Field(ge=0)] | None = None
    input_tokens: Annotated[int, Field(ge=0)] | None = None
    megapixels: Annotated[Decimal, Field(gt=0, le=100)] | None = None


#: the usage field each rate needs to price a request
_RATE_NEEDS = {
    PriceUnit.IMAGE_OUTPUT_TOKEN: "output_image_tokens",
    PriceUnit.OUTPUT_TOKEN: "output_text_tokens",
    PriceUnit.INPUT_TOKEN: "input_tokens",
    PriceUnit.MEGAPIXEL: "megapixels",
}


def as_usage(expected: ExpectedUsage | None) -> Usage:
    """The usage a probe answer would report for the expected one (one image if unset)."""
    return Usage(**(expected or ExpectedUsage()).model_dump())


def rates_price(rates: Mapping[PriceUnit, Decimal], usage: Usage) -> Decimal | None:
    """One image's cost at ``rates`` for one request's ``usage``; None when they cannot
    price it (no rates, or none that applies)."""
    return per_image(measured_cost(rates, usage), usage) if rates else None


def rates_problem(
    rates: Mapping[PriceUnit, Decimal], expected: ExpectedUsage | None, listed: Decimal | None
) -> str | None:
    """Why an offering's rates, usage and listed price do not fit together, or None."""
    for unit, needs in _RATE_NEEDS.items():
        if unit in rates and getattr(expected, needs, None) is None:
            return f"rates.{unit.value} needs usage.{needs} (per probe request)"
    computed = rates_price(rates, as_usage(expected))
    if listed and computed is not None and abs(computed - listed) / listed > LISTED_TOLERANCE:
        return f"listed_price_usd {listed} disagrees with rates x usage = {computed:.6f}"
    return None


def yaml_data(text: str) -> Any:
    """YAML text as data; raises ConfigError naming the line of a syntax error."""
    from monitor.config import ConfigError

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise ConfigError(f"{where}not valid YAML") from None


def catalog_text(name: str = DEFAULT_CATALOG) -> str:
    """The YAML text of a shipped catalog; raises ConfigError for an unknown name."""
    from monitor.config import ConfigError

    if name not in CATALOGS:
        raise ConfigError(f"unknown catalog {name!r}; known: {', '.join(sorted(CATALOGS))}")
    return resources.files("monitor").joinpath(CATALOGS[name]).read_text("utf-8")


def load_catalog(*names: str) -> Config:
    """One shipped catalog, or several merged (:func:`merge_catalogs`) in the given order."""
    from monitor.config import parse_config

    chosen = names or (DEFAULT_CATALOG,)
    data = [yaml_data(catalog_text(name)) for name in chosen]
    return parse_config(merge_catalogs(*data), origin=f"catalog {'+'.join(chosen)}")


def demo_catalog() -> Config:
    """The catalog ``provmon demo`` runs: :data:`DEMO_CATALOGS` merged."""
    return load_catalog(*DEMO_CATALOGS)


#: sections merged entry by entry
_MERGED = ("models", "providers", "offerings", "pricing_sources", "lifecycle_sources")
#: what two definitions of a shared provider or source must agree on
_SAME = {"providers": ("protocol", "credential_env"), "pricing_sources": ("kind",)}


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def merge_catalogs(first: Any, *others: Any) -> dict[str, Any]:
    """Raw catalog data merged: the first's settings, and every catalog's entries.

    A model or offering two catalogs define must be identical; a provider or pricing source
    both define keeps the first's definition and must agree on protocol and credential
    variable (on kind, for a source). Anything else is a ConfigError naming the key."""
    from monitor.config import ConfigError

    if not all(isinstance(d, dict) for d in (first, *others)):
        raise ConfigError("catalog: the top level must be a mapping")
    merged: dict[str, Any] = {**first}
    problems: list[str] = []
    for other in others:
        for section in _MERGED:
            mine = dict(_mapping(merged.get(section)))
            for key, entry in _mapping(other.get(section)).items():
                if key not in mine:
                    mine[key] = entry
                elif section not in _SAME and mine[key] != entry:
                    problems.append(f"{section}.{key}: defined differently by two catalogs")
                for name in _SAME.get(section, ()) if key in mine else ():
                    if _mapping(mine[key]).get(name) != _mapping(entry).get(name):
                        problems.append(f"{section}.{key}.{name}: the catalogs disagree")
            merged[section] = mine
    if problems:
        raise ConfigError("\n".join(problems))
    return merged
