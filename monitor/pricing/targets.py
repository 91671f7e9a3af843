"""Pricing targets from the config: which offerings a source is asked to price.

Apart from the sources (``base`` and the source modules), which must not import the config:
``monitor.config`` validates source kinds against ``SOURCES``, so a source importing the
config would close an import circle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from monitor.config import Config
from monitor.pricing.base import PricingTarget


def targets_for(config: Config, source_name: str) -> list[PricingTarget]:
    """Targets for the configured offerings that name ``source_name`` in ``pricing_sources``."""
    names = [k for k, o in config.offerings.items() if source_name in o.pricing_sources]
    return targets_for_offerings(config, names)


def targets_for_offerings(
    config: Config, offerings: Iterable[str], provider_models: Mapping[str, str] | None = None
) -> list[PricingTarget]:
    """Targets for offering ids, configured or not: labels come from ``config.models``;
    ``provider_model`` from the offering's config, else ``provider_models``, else the model."""
    out = []
    for offering in offerings:
        provider, _, model = offering.partition("/")
        model_config = config.models.get(model)
        configured = config.offerings.get(offering)
        provider_model = (
            configured.provider_model
            if configured is not None
            else (provider_models or {}).get(offering, model)
        )
        out.append(
            PricingTarget(
                offering=offering,
                provider=provider,
                model=model,
                provider_model=provider_model,
                labels=model_config.display_names if model_config else (),
                family=model_config.family if model_config else "",
            )
        )
    return out
