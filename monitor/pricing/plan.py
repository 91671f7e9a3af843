"""What the price book plans and shows: one source's plan (its parser, config and targets),
the key of a fetched URL's state, a source's staleness limit, and a row of ``prices show``."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from monitor.pricing.base import Plan, PriceSource, PricingTarget

if TYPE_CHECKING:  # annotations only: the config loads probe modules
    from monitor.config import PricingSourceConfig

MIN_MAX_AGE = dt.timedelta(hours=6)


def state_key(url: str) -> str:
    """The fetch-state key of a URL: itself, or a hashed form when too long for the column."""
    if len(url) <= 1000:
        return url
    return f"{url[:900]}#sha256={hashlib.sha256(url.encode()).hexdigest()}"


def max_age(config: PricingSourceConfig) -> dt.timedelta:
    """A source's max age: ``max_age_seconds`` when the config has it, else 3 intervals,
    at least 6 hours."""
    configured = getattr(config, "max_age_seconds", None)  # an optional config field
    if configured:
        return dt.timedelta(seconds=float(configured))
    return max(MIN_MAX_AGE, dt.timedelta(seconds=3 * config.interval_seconds))


@dataclass(frozen=True, kw_only=True)
class SourcePlan:
    """One configured source: its parser, the targets it prices and the URLs it reads."""

    name: str
    impl: PriceSource
    config: PricingSourceConfig
    targets: list[PricingTarget]
    plan: Plan
    max_age: dt.timedelta


@dataclass(frozen=True, kw_only=True)
class ShowRow:
    """One (offering, source) for ``provmon prices show`` and ``/api/prices``."""

    offering: str
    source: str
    #: ``accepted``, ``held`` (a jump awaiting a second reading), ``removed``, ``missing``
    status: str
    amount: Decimal | None
    unit: str | None
    #: seconds since the source last confirmed this price (a successful read)
    age_seconds: float | None
    stale: bool
    #: when the current amount was first read
    since: dt.datetime | None = None
