"""Catalog discovery: compare the catalog with the providers' own model listings.

A provider's listing is a free call (``list_models`` on its protocol's probe class; a
protocol without one says so). The comparison is pure (:func:`compare`): catalog offerings
the listing no longer names are *unlisted* (suspect retired: the model may still answer),
image models it names that the catalog lacks are *new*, with the listed price where the
listing gives one. :func:`as_json` is the ``provmon catalog discover --json`` contract.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from monitor import secrets
from monitor.config import Config
from monitor.http import classify_transport_error
from monitor.interfaces import Kind, ListedModel, ProbeFailure

#: time allowed for one provider's listing (several pages)
LISTING_SECONDS = 60.0


@dataclass(frozen=True, kw_only=True)
class Discovery:
    """What one provider's listing says about the catalog."""

    provider: str
    #: False when the provider's protocol has no model listing
    has_listing: bool = True
    unlisted: tuple[str, ...] = ()
    new: tuple[ListedModel, ...] = ()
    #: listed models the listing itself marks deprecated or gives a shutdown date for
    flagged: tuple[ListedModel, ...] = ()
    error: str | None = None


@dataclass
class DiscoveryBook:
    """The latest discovery per provider, as the service keeps it (for metrics and the API)."""

    by_provider: dict[str, Discovery] = field(default_factory=dict)

    def update(self, found: Iterable[Discovery]) -> None:
        for discovery in found:
            # a failed listing keeps the last good answer
            if discovery.error is None or discovery.provider not in self.by_provider:
                self.by_provider[discovery.provider] = discovery

    def unlisted(self) -> set[str]:
        return {o for d in self.by_provider.values() for o in d.unlisted}

    def listed(self, offering: str) -> bool | None:
        """False when the offering's provider listing lacks it, None when unknown."""
        provider = offering.partition("/")[0]
        discovery = self.by_provider.get(provider)
        if discovery is None or not discovery.has_listing or discovery.error is not None:
            return None
        return offering not in discovery.unlisted


def _norm(model_id: str) -> str:
    return model_id.rsplit("/models/", 1)[-1].removeprefix("models/").lower()


def compare(config: Config, provider: str, listed: Sequence[ListedModel]) -> Discovery:
    """Unlisted catalog offerings and new image models of one provider (pure)."""
    offerings = [o for o in config.enabled_offerings() if config.provider_of(o) == provider]
    names = {_norm(m.model) for m in listed}
    unlisted = tuple(
        sorted(o for o in offerings if _norm(config.offerings[o].provider_model) not in names)
    )
    known = {_norm(config.offerings[o].provider_model) for o in offerings}
    known |= {_norm(config.model_of(o)) for o in offerings}
    new = tuple(
        sorted(
            (m for m in listed if m.image and not m.deprecated and _norm(m.model) not in known),
            key=lambda m: m.model,
        )
    )
    catalog_ids = {_norm(config.offerings[o].provider_model) for o in offerings}
    flagged = tuple(
        m
        for m in listed
        if _norm(m.model) in catalog_ids and (m.deprecated or m.shutdown_at is not None)
    )
    return Discovery(provider=provider, unlisted=unlisted, new=new, flagged=flagged)


def as_json(found: Iterable[Discovery]) -> dict[str, Any]:
    """``{"unlisted": ["provider/model", ...], "new": [{provider, model, price_usd}, ...]}``."""
    found = list(found)
    return {
        "unlisted": sorted(o for d in found for o in d.unlisted),
        "new": [
            {
                "provider": d.provider,
                "model": m.model,
                "price_usd": None if m.price_usd is None else float(m.price_usd),
            }
            for d in found
            for m in d.new
        ],
    }


def _key(model_id: str) -> str:
    """A catalog model key from a provider's id (``owner/name`` -> ``name``)."""
    return model_id.rsplit("/", 1)[-1].lower()


def snippet(config: Config, found: Iterable[Discovery]) -> str:
    """YAML that would add the new models to the catalog (prices and sizes to be checked)."""
    lines: list[str] = []
    models: list[str] = []
    offerings: list[str] = []
    for discovery in found:
        for listed in discovery.new:
            key = _key(listed.model)
            if key not in config.models and key not in models:
                models.append(key)
            offerings.append(f"  {discovery.provider}/{key}:")
            offerings.append(f"    provider_model: {listed.model}")
            offerings.append("    expect: {width: 1024, height: 1024}  # check the model's sizes")
            if listed.price_usd is not None:
                offerings.append(f"    listed_price_usd: {_plain(listed.price_usd)}")
            else:
                offerings.append("    # listed_price_usd: the listing gives no price")
    if not offerings:
        return ""
    if models:
        lines.append("models:")
        lines.extend(f"  {key}: {{family: {key}}}" for key in models)
    lines.append("offerings:")
    lines.extend(offerings)
    return "\n".join(lines) + "\n"


def _plain(amount: Decimal) -> str:
    return format(amount.normalize(), "f")


async def discover(
    config: Config, runner: Any, providers: Iterable[str] | None = None
) -> list[Discovery]:
    """List each provider's models (free calls) and compare them with the catalog.

    ``runner`` is the service's :class:`monitor.runner.Runner` (its clients, credentials and
    options); one offering of the provider lends the call its context.
    """
    wanted = sorted(set(providers) if providers else set(config.providers))
    return list(await asyncio.gather(*(_one(config, runner, p) for p in wanted)))


async def _one(config: Config, runner: Any, provider: str) -> Discovery:
    offerings = [o for o in config.enabled_offerings() if config.provider_of(o) == provider]
    if not offerings:
        return Discovery(provider=provider, error="no enabled offering in the catalog")
    probe = runner.probe_for(provider)
    lister = getattr(probe, "list_models", None)
    if lister is None:
        protocol = config.providers[provider].protocol
        return Discovery(
            provider=provider,
            has_listing=False,
            error=f"protocol {protocol} has no model listing",
        )
    ctx = runner.context(offerings[0], Kind.CONTROL, runner.clock() + LISTING_SECONDS)
    try:
        async with asyncio.timeout(LISTING_SECONDS):
            listed = await lister(ctx)
    except TimeoutError:
        return Discovery(provider=provider, error="listing timed out")
    except ProbeFailure as exc:
        return Discovery(provider=provider, error=secrets.scrub(exc.message)[:300])
    except httpx.HTTPError as exc:
        _, reason = classify_transport_error(exc)
        return Discovery(provider=provider, error=secrets.scrub(reason)[:300])
    return compare(config, provider, listed)
