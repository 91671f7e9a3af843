"""The pricing engine's in-memory state and everything read from it at scrape or request time.

:class:`PriceBook` holds, per (offering, source), the accepted quote, a ``held`` quote awaiting
a second reading, and removals; per source URL, the fetch state (validators, last success,
last error). It answers the metrics (:meth:`PriceBook.gauges`), ``provmon prices show``
(:meth:`PriceBook.rows_for_show`) and the budget (:meth:`PriceBook.current_price`) without a
query. :class:`monitor.pricing.engine.PricingEngine` fills it; nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from monitor.interfaces import Gauge, GaugeRow, PriceQuote, PriceUnit
from monitor.pricing import SOURCES
from monitor.pricing.base import Plan, PriceSource, PricingTarget
from monitor.pricing.judge import Disagreement, Key, disagreements, is_stale

if TYPE_CHECKING:  # for annotations only: a pure module loads no SQLAlchemy (the store's
    # row types) and no probe modules (the config validates protocols against PROBES)
    from monitor.config import Config, PricingSourceConfig
    from monitor.store import FetchStateRow, PriceQuoteRow

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


class PriceBook:
    """In-memory pricing state for the configured sources; read methods only."""

    def __init__(self, config: Config, now: Callable[[], dt.datetime]) -> None:
        # the targets module reads the config: imported here, the pure module stays pure
        from monitor.pricing.targets import targets_for

        self.config, self._now = config, now
        self.sources: dict[str, SourcePlan] = {}
        for name, cfg in config.pricing_sources.items():
            impl, targets = SOURCES[cfg.kind](), targets_for(config, name)
            self.sources[name] = SourcePlan(
                name=name,
                impl=impl,
                config=cfg,
                targets=targets,
                plan=impl.plan(cfg.url, targets) if targets else [],
                max_age=max_age(cfg),
            )
        self._accepted: dict[Key, PriceQuote] = {}
        self._pending: dict[Key, PriceQuote] = {}
        self._removed: dict[Key, dt.datetime] = {}
        self._fetch: dict[str, FetchStateRow] = {}
        #: sources not read, with the reason (a missing credential)
        self._skipped: dict[str, str] = {}
        #: (offering, source) -> fetch-state key of the URL that prices it
        self._url_of: dict[Key, str] = {
            (t.offering, s.name): state_key(url)
            for s in self.sources.values()
            for url, targets in s.plan
            for t in targets
        }

    def restore(self, events: Iterable[PriceQuoteRow], states: Iterable[FetchStateRow]) -> None:
        """Replace the state with the store's: the newest ``accepted``/``held``/``removed``
        row per (offering, source) (``Store.latest_price_events``) and the fetch states."""
        latest: dict[Key, dict[str, PriceQuoteRow]] = {}
        for row in events:
            latest.setdefault((row.offering, row.source), {})[row.status] = row
        self._accepted, self._pending, self._removed = {}, {}, {}
        for key, rows in latest.items():
            acc, held, gone = rows.get("accepted"), rows.get("held"), rows.get("removed")
            last_id = max((r.id or 0) for r in (acc, gone) if r is not None) if acc or gone else 0
            if gone is not None and (gone.id or 0) == last_id:
                self._removed[key] = gone.observed_at
            elif acc is not None:
                self._accepted[key] = _quote(acc)
            if held is not None and (held.id or 0) > last_id:
                self._pending[key] = _quote(held)
        self._fetch = {row.url: row for row in states}

    def _states(self, name: str) -> list[FetchStateRow | None]:
        return [self._fetch.get(state_key(url)) for url, _ in self.sources[name].plan]

    def source_ok(self, name: str) -> bool | None:
        """Whether the last refresh of ``name`` read every page; None before any attempt."""
        states = self._states(name)
        if not any(states):
            return None
        return all(s is not None and s.last_error is None and s.last_success_at for s in states)

    def last_success(self, name: str) -> dt.datetime | None:
        """When every page of ``name`` had last been read successfully."""
        times = [s.last_success_at if s else None for s in self._states(name)]
        known = [t for t in times if t is not None]
        return min(known) if known and len(known) == len(times) else None

    def _confirmed(self, key: Key) -> dt.datetime | None:
        """When the source last read the offering's price: the fetch state of the URL the
        plan reads it from, else of the URL the accepted price was read from. The fallback
        matters when the config now aims the source elsewhere than the store saw, e.g.
        ``prices show`` without the ``--simulator`` that ``prices refresh`` was given: the
        price was confirmed a moment ago, not "never"."""
        state = self._fetch.get(self._url_of.get(key, ""))
        quote = self._accepted.get(key)
        if state is None and quote is not None and quote.source_url:
            state = self._fetch.get(state_key(quote.source_url))
        return state.last_success_at if state else None

    def is_stale(self, offering: str, source: str) -> bool:
        """True when the source has not confirmed the offering's price within its max age."""
        key = (offering, source)
        return is_stale(self._confirmed(key), self._now(), self.sources[source].max_age)

    def disagreements(self) -> list[Disagreement]:
        """Configured offerings whose sources' accepted prices differ beyond the tolerance."""
        by_source: dict[str, list[PriceQuote]] = {}
        for key, quote in self._accepted.items():
            if key in self._url_of:
                by_source.setdefault(key[1], []).append(quote)
        return disagreements(by_source)

    def current_price(self, offering: str) -> Decimal | None:
        """What a paid probe of ``offering`` costs: the accepted per-image USD quote of its
        first (primary) configured source; until that one is read, the catalog's listed
        price; without either, a cross-check source's quote (in configured order)."""
        configured = self.config.offerings.get(offering)
        if configured is None:
            return None
        primary, *cross_checks = configured.pricing_sources or [""]
        found = self._per_image_usd(offering, primary)
        if found is not None:
            return found
        if configured.listed_price_usd is not None:
            return configured.listed_price_usd
        seen = {primary, *cross_checks}
        others = sorted(s for o, s in self._accepted if o == offering and s not in seen)
        for source in [*cross_checks, *others]:
            found = self._per_image_usd(offering, source)
            if found is not None:
                return found
        return None

    def _per_image_usd(self, offering: str, source: str) -> Decimal | None:
        quote = self._accepted.get((offering, source))
        if quote is not None and quote.unit is PriceUnit.IMAGE and quote.currency == "USD":
            return quote.amount
        return None

    def price_of(self, offering: str) -> Decimal | None:
        """:meth:`current_price`, under the name ``monitor.runner.CostLookup`` asks for."""
        return self.current_price(offering)

    def gauges(self) -> Iterator[GaugeRow]:
        """Scrape-time samples of the price gauges (their names are ``monitor.metrics``').
        Label values come from the config and enums only."""
        for (offering, source), quote in sorted(self._accepted.items()):
            if (offering, source) in self._url_of:
                provider, _, model = offering.partition("/")
                labels = {"offering": offering, "provider": provider, "model": model}
                labels |= {"unit": quote.unit.value, "source": source}
                yield GaugeRow(name=Gauge.PRICE, labels=labels, value=float(quote.amount))
        for name in self.sources:
            ok, last = self.source_ok(name), self.last_success(name)
            if ok is not None:
                yield GaugeRow(
                    name=Gauge.PRICE_FETCH_SUCCESS, labels={"source": name}, value=float(ok)
                )
            if last is not None:
                yield GaugeRow(
                    name=Gauge.PRICE_FETCH_LAST_SUCCESS,
                    labels={"source": name},
                    value=last.timestamp(),
                )
        for offering, source in sorted(self._url_of):
            if source not in self._skipped:
                stale = float(self.is_stale(offering, source))
                labels = {"offering": offering, "source": source}
                yield GaugeRow(name=Gauge.PRICE_STALE, labels=labels, value=stale)
        flagged = {d.offering for d in self.disagreements()}
        for offering in sorted({o for o, _ in self._url_of}):
            yield GaugeRow(
                name=Gauge.PRICE_DISAGREEMENT,
                labels={"offering": offering},
                value=float(offering in flagged),
            )

    def status(self, key: Key) -> str:
        if key in self._pending:
            return "held"
        if key in self._removed:
            return "removed"
        return "accepted" if key in self._accepted else "missing"

    def rows_for_show(self) -> list[ShowRow]:
        """One row per configured (offering, source), for ``provmon prices show``."""
        now, rows = self._now(), []
        for key in sorted(self._url_of):
            quote, confirmed = self._accepted.get(key), self._confirmed(key)
            rows.append(
                ShowRow(
                    offering=key[0],
                    source=key[1],
                    status=self.status(key),
                    amount=quote.amount if quote else None,
                    unit=quote.unit.value if quote else None,
                    age_seconds=(now - confirmed).total_seconds() if confirmed else None,
                    stale=self.is_stale(*key),
                    since=quote.observed_at if quote else None,
                )
            )
        return rows


def _quote(row: PriceQuoteRow) -> PriceQuote:
    return PriceQuote(
        offering=row.offering,
        amount=Decimal(row.amount),
        currency=row.currency,
        unit=PriceUnit(row.unit),
        source=row.source,
        observed_at=row.observed_at,
        evidence=row.evidence,
        source_url=row.source_url,
    )
