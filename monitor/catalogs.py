"""The catalogs shipped with provmon, how several merge, and what an offering's rates need.

``live`` (today's models) is the default of ``provmon run``; ``provmon demo`` runs ``live``
and ``imagen4`` merged, so the retired Imagen 4 offerings show beside the live ones.

An offering priced by token, megapixel or run gives its ``rates`` (USD per unit; token
rates per single token, so "$30 per 1M" is 0.00003) and the ``usage`` of one probe
request; :func:`rates_problem` checks that the rates can price that usage and agree with
the listed per-image price.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

from monitor.rates import LISTED_TOLERANCE, ExpectedUsage, as_usage, rates_price, rates_problem

if TYPE_CHECKING:
    from monitor.config import Config

#: the catalogs shipped with provmon, by name; ``live`` is the default
CATALOGS = {"live": "catalog/live.yaml", "imagen4": "catalog/imagen4.yaml"}
DEFAULT_CATALOG = "live"
__all__ = [
    "LISTED_TOLERANCE",
    "ExpectedUsage",
    "as_usage",
    "demo_catalog",
    "load_catalog",
    "merge_catalogs",
    "rates_price",
    "rates_problem",
]
#: what ``provmon demo`` shows: today's models, and Imagen 4 as the example of retirement
DEMO_CATALOGS = ("live", "imagen4")


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
_MERGED = (
    "models",
    "providers",
    "offerings",
    "pricing_sources",
    "lifecycle_sources",
    "status_feeds",
)
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
