"""The budget's clock arithmetic: how many probes a day's money buys, how to space them,
and how much of the UTC day is left. Pure functions; :mod:`monitor.budget` applies them to
caps and spend."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_FLOOR, Decimal

DAY_SECONDS = 86_400.0


def held_share(now: dt.datetime) -> Decimal:
    """The share of the confirm slice regular probes still leave at ``now``: the share of
    the UTC day left (what confirmations did not need by midnight is lost otherwise)."""
    return Decimal(seconds_left(now) / DAY_SECONDS)


def probes_per_day(usd_per_day: Decimal, price: Decimal) -> int:
    """Whole probes a daily amount pays for; $1 at $0.04 is 25."""
    if price <= 0:
        raise ValueError("a paid probe needs a positive price")
    return int((usd_per_day / price).to_integral_value(rounding=ROUND_FLOOR))


def interval_for(usd_per_day: Decimal, price: Decimal) -> float:
    """Seconds between probes that spend ``usd_per_day`` evenly ($1 at $0.04: 3456 s, one
    every 57.6 minutes); ``inf`` when not even one probe fits."""
    count = usd_per_day / price if price > 0 else Decimal(0)
    return DAY_SECONDS / float(count) if count >= 1 else float("inf")


def day_of(now: dt.datetime) -> dt.date:
    return now.astimezone(dt.UTC).date()


def seconds_left(now: dt.datetime) -> float:
    utc = now.astimezone(dt.UTC)
    midnight = dt.datetime.combine(utc.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
    return (midnight - utc).total_seconds()


def paced_interval(left_usd: Decimal, price: Decimal, seconds: float) -> float:
    """Spread the money left today over the time left today (after a restart or price rise
    mid-day the even interval would run out before midnight). The probe just sent is
    not in ``left_usd``: the next day's first probe closes the last interval, so ``n``
    probes left share ``seconds`` as ``n + 1`` intervals (on an even schedule this is
    the even interval)."""
    if price <= 0 or left_usd < price:
        return max(seconds, 1.0)
    return seconds / (float(left_usd / price) + 1.0)
