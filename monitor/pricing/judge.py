"""Price change detection and judgement: pure functions over quotes, no I/O and no clock.

Per (offering, source, unit): a first quote is ``new``; the same amount is ``unchanged``; a
move within ``max_jump`` (default ±50 %) is ``changed``; a bigger move, or a change of unit
(a page that priced the offering in other units no longer does) or currency, is ``held``
until the same value is read twice in a row (a misread page must not move a price gauge or
a route); an offering the page shows as gone is ``removed`` (in every unit). Token-priced
offerings have a quote per unit (image output, text output, input tokens), each judged.
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
#: (offering, source, unit): one accepted or held quote
QuoteKey = tuple[str, str, PriceUnit]


def quote_key(quote: PriceQuote, source: str | None = None) -> QuoteKey:
    return (quote.offering, source or quote.source, quote.unit)


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
    previous: Mapping[QuoteKey, PriceQuote],
    result: ParseResult,
    *,
    source: str,
    pending: Mapping[QuoteKey, PriceQuote] | None = None,
    max_jump: Decimal = DEFAULT_MAX_JUMP,
) -> list[Judgement]:
    """Judge every quote in one parse of ``source`` against the accepted quotes.

    ``pending`` holds quotes judged ``held`` on the previous reading; the caller keeps it
    (see :func:`next_state`). A quote in a unit the offering had no price in, while its
    accepted units are no longer read, is compared with one of those (a unit change, held).
    Offerings in ``result.removed`` are ``removed`` whether or not they had a price.
    """
    held = pending or {}
    read = {(q.offering, q.unit) for q in result.quotes}
    out = []
    for q in result.quotes:
        prev = previous.get((q.offering, source, q.unit))
        if prev is None:  # a unit change: compare with an accepted unit not read now
            dropped = [
                p
                for (o, s, unit), p in sorted(previous.items())
                if o == q.offering and s == source and (o, unit) not in read
            ]
            prev = dropped[0] if dropped else None
        out.append(
            judge_one(prev, q, pending=held.get((q.offering, source, q.unit)), max_jump=max_jump)
        )
    out += [
        Judgement(
            offering=o,
            source=source,
            verdict=Verdict.REMOVED,
            quote=None,
            previous=next((p for k, p in sorted(previous.items()) if k[:2] == (o, source)), None),
            reason="the page shows it as removed",
        )
        for o in result.removed
    ]
    return out


def next_state(
    accepted: Mapping[QuoteKey, PriceQuote],
    pending: Mapping[QuoteKey, PriceQuote],
    judgements: Iterable[Judgement],
) -> tuple[dict[QuoteKey, PriceQuote], dict[QuoteKey, PriceQuote]]:
    """The accepted and pending quotes after applying ``judgements``. An offering whose
    reading was accepted in full keeps only the units read now (a unit it is no longer
    priced in goes); one with a held quote keeps its accepted units until confirmed."""
    new_accepted, new_pending = dict(accepted), dict(pending)
    judged = list(judgements)
    read: dict[Key, set[PriceUnit]] = {}
    held: set[Key] = set()
    for j in judged:
        pair = (j.offering, j.source)
        if j.verdict is Verdict.REMOVED:
            for key in [k for k in (*new_accepted, *new_pending) if k[:2] == pair]:
                new_accepted.pop(key, None)
                new_pending.pop(key, None)
            continue
        if j.quote is None:
            continue
        key = (j.offering, j.source, j.quote.unit)
        new_pending.pop(key, None)
        read.setdefault(pair, set()).add(j.quote.unit)
        if j.verdict is Verdict.HELD:
            new_pending[key] = j.quote
            held.add(pair)
        elif j.accepted:
            new_accepted[key] = j.quote
    for pair, units in read.items():
        if pair not in held:
            for key in [k for k in new_accepted if k[:2] == pair and k[2] not in units]:
                del new_accepted[key]
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
