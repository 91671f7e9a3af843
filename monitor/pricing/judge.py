"""Price change detection and judgement: pure functions over quotes, no I/O and no clock.

Per (offering, source): a first quote is ``new``; the same amount and unit is ``unchanged``;
a move within ``max_jump`` (default ±50 %) is ``changed``; a bigger move, or a change of unit
or currency, is ``held`` until the same value is read twice in a row (a misread page must
not move a price gauge or a route); an offering the page shows as gone is ``removed``.
Staleness and cross-source disagreement are judged here too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from monitor.interfaces import PriceQuote, PriceUnit
from monitor.pricing.base import ParseResult

DEFAULT_MAX_JUMP = Decimal("0.5")
DEFAULT_TOLERANCE = Decimal("0.02")

#: (offering, source)
Key = tuple[str, str]


class Verdict(StrEnum):
    NEW = "new"
    UNCHANGED = "unchanged"
    CHANGED = "changed"
    HELD = "held"
    REMOVED = "removed"


@dataclass(frozen=True, kw_only=True)
class Judgement:
    """What to do with one offering's reading from one source."""

    offering: str
    source: str
    verdict: Verdict
    #: the quote read now (None when removed)
    quote: PriceQuote | None
    #: the last accepted quote, if any
    previous: PriceQuote | None
    reason: str = ""

    @property
    def accepted(self) -> bool:
        """True when ``quote`` becomes the current price (new, unchanged or changed)."""
        return self.verdict in (Verdict.NEW, Verdict.UNCHANGED, Verdict.CHANGED)

    @property
    def is_change(self) -> bool:
        """True for events counted in ``provmon_price_changes_total``."""
        return self.verdict in (Verdict.CHANGED, Verdict.REMOVED)


def _same(a: PriceQuote, b: PriceQuote) -> bool:
    return a.amount == b.amount and a.unit == b.unit and a.currency == b.currency


def _jump(old: PriceQuote, new: PriceQuote, max_jump: Decimal) -> bool:
    if old.unit != new.unit or old.currency != new.currency or old.amount <= 0:
        return True
    return abs(new.amount - old.amount) / old.amount > max_jump


def judge_one(
    previous: PriceQuote | None,
    quote: PriceQuote,
    *,
    pending: PriceQuote | None = None,
    max_jump: Decimal = DEFAULT_MAX_JUMP,
) -> Judgement:
    """Judge one new quote against the last accepted one and the one held pending, if any."""

    def verdict(v: Verdict, reason: str) -> Judgement:
        return Judgement(
            offering=quote.offering,
            source=quote.source,
            verdict=v,
            quote=quote,
            previous=previous,
            reason=reason,
        )

    if previous is None:
        return verdict(Verdict.NEW, "first price from this source")
    if _same(previous, quote):
        return verdict(Verdict.UNCHANGED, "")
    move = f"{previous.amount}/{previous.unit} -> {quote.amount}/{quote.unit}"
    if not _jump(previous, quote, max_jump):
        return verdict(Verdict.CHANGED, move)
    if pending is not None and _same(pending, quote):
        return verdict(Verdict.CHANGED, f"{move}, confirmed by a second reading")
    return verdict(Verdict.HELD, f"{move} is beyond ±{max_jump:%}; held until read again")


def judge(
    previous: Mapping[Key, PriceQuote],
    result: ParseResult,
    *,
    source: str,
    pending: Mapping[Key, PriceQuote] | None = None,
    max_jump: Decimal = DEFAULT_MAX_JUMP,
) -> list[Judgement]:
    """Judge every offering in one parse of ``source`` against the accepted quotes.

    ``pending`` holds quotes judged ``held`` on the previous reading; the caller keeps it
    (see :func:`next_state`). Offerings in ``result.removed`` are ``removed`` whether or not
    they had a price.
    """
    held = pending or {}
    out = [
        judge_one(
            previous.get((q.offering, source)),
            q,
            pending=held.get((q.offering, source)),
            max_jump=max_jump,
        )
        for q in result.quotes
    ]
    out += [
        Judgement(
            offering=o,
            source=source,
            verdict=Verdict.REMOVED,
            quote=None,
            previous=previous.get((o, source)),
            reason="the page shows it as removed",
        )
        for o in result.removed
    ]
    return out


def next_state(
    accepted: Mapping[Key, PriceQuote],
    pending: Mapping[Key, PriceQuote],
    judgements: Iterable[Judgement],
) -> tuple[dict[Key, PriceQuote], dict[Key, PriceQuote]]:
    """The accepted and pending quotes after applying ``judgements``."""
    new_accepted, new_pending = dict(accepted), dict(pending)
    for j in judgements:
        key = (j.offering, j.source)
        new_pending.pop(key, None)
        if j.verdict is Verdict.REMOVED:
            new_accepted.pop(key, None)
        elif j.verdict is Verdict.HELD and j.quote is not None:
            new_pending[key] = j.quote
        elif j.accepted and j.quote is not None:
            new_accepted[key] = j.quote
    return new_accepted, new_pending


def is_stale(last_success: dt.datetime | None, now: dt.datetime, max_age: dt.timedelta) -> bool:
    """True when a source has never succeeded or last succeeded more than ``max_age`` ago."""
    return last_success is None or now - last_success > max_age


@dataclass(frozen=True, kw_only=True)
class Disagreement:
    """Sources listing one offering at prices further apart than the tolerance."""

    offering: str
    unit: PriceUnit
    low: Decimal
    high: Decimal
    amounts: Mapping[str, Decimal]

    @property
    def spread(self) -> Decimal:
        return (self.high - self.low) / self.low


def disagreements(
    quotes_by_source: Mapping[str, Iterable[PriceQuote]],
    tolerance: Decimal = DEFAULT_TOLERANCE,
) -> list[Disagreement]:
    """Offerings whose sources differ by more than ``tolerance`` relative to the lowest.

    Only quotes in the same unit and currency are compared. With the default 2 %, LiteLLM's
    0.0398 against 0.04 is not flagged; 0.04 against 0.05 is.
    """
    grouped: dict[tuple[str, PriceUnit, str], dict[str, Decimal]] = {}
    for source, quotes in quotes_by_source.items():
        for q in quotes:
            grouped.setdefault((q.offering, q.unit, q.currency), {})[source] = q.amount
    out = []
    for (offering, unit, _), amounts in sorted(grouped.items()):
        low, high = min(amounts.values()), max(amounts.values())
        if len(amounts) > 1 and low > 0 and (high - low) / low > tolerance:
            out.append(
                Disagreement(
                    offering=offering,
                    unit=unit,
                    low=low,
                    high=high,
                    amounts=dict(sorted(amounts.items())),
                )
            )
    return out
