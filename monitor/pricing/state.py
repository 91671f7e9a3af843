"""The pricing engine's in-memory state and everything read from it at scrape or request time.

:class:`PriceBook` holds, per (offering, source), the accepted quote, a ``held`` quote awaiting
a second reading, and removals; quotes are kept per unit (a token-priced offering has an
image-output, a text-output and an input rate). Per source URL, the fetch state (validators,
last success, last error). It answers the metrics (:meth:`PriceBook.gauges`), ``provmon
prices show`` (:meth:`PriceBook.rows_for_show`), the runner (:meth:`PriceBook.rates_of`) and
the budget (:meth:`PriceBook.price_of`: one probe image, from the rates and the offering's
expected usage) without a query. It also watches probe results (:meth:`PriceBook.accept`):
the measured cost per image, and tokens per image moving at unchanged rates, which is a
price change (:mod:`monitor.pricing.usage`). :class:`monitor.pricing.engine.PricingEngine`
fills it; nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from monitor.interfaces import Gauge, GaugeRow, Kind, PriceQuote, PriceUnit, ProbeResult, Usage
from monitor.pricing import SOURCES
from monitor.pricing.cost import per_image
from monitor.pricing.judge import Disagreement, Key, QuoteKey, disagreements, is_stale
from monitor.pricing.plan import ShowRow, SourcePlan, max_age, state_key
from monitor.pricing.usage import UsageChange, judge_usage
from monitor.rates import as_usage, rates_price

if TYPE_CHECKING:  # for annotations only: a pure module loads no SQLAlchemy (the store's
    # row types) and no probe modules (the config validates protocols against PROBES)
    from monitor.config import Config
    from monitor.store import FetchStateRow, PriceQuoteRow

#: the source label of a price change found in probe answers (tokens per image moved)
USAGE_SOURCE = "usage"


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
        self._accepted_quotes: dict[QuoteKey, PriceQuote] = {}
        self._by_pair: dict[Key, dict[PriceUnit, PriceQuote]] = {}
        self._pending: dict[QuoteKey, PriceQuote] = {}
        self._removed: dict[Key, dt.datetime] = {}
        #: per offering: the usage of one probe request that prices its image (the
        #: catalog's until probe answers confirm another), one awaiting confirmation, and
        #: the last answer's measured cost per image
        self._usage = {k: as_usage(o.usage) for k, o in config.offerings.items()}
        self._usage_pending: dict[str, Usage] = {}
        self._measured: dict[str, Decimal] = {}
        #: the cost-per-image gauge rows, rebuilt only when prices, usage or measures move
        self._cost_rows: list[GaugeRow] | None = None
        #: called with (offering, "usage") when tokens per image change at unchanged rates
        self.on_usage_change: Callable[[str, str], None] | None = None
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

    @property
    def _accepted(self) -> dict[QuoteKey, PriceQuote]:
        return self._accepted_quotes

    @_accepted.setter
    def _accepted(self, quotes: dict[QuoteKey, PriceQuote]) -> None:
        # replaced as a whole (restore, next_state): index it by (offering, source) once,
        # since prices are read per probe and per scrape
        self._accepted_quotes, self._by_pair, self._cost_rows = quotes, {}, None
        for (offering, source, unit), quote in quotes.items():
            if quote.currency == "USD":
                self._by_pair.setdefault((offering, source), {})[unit] = quote

    def restore(self, events: Iterable[PriceQuoteRow], states: Iterable[FetchStateRow]) -> None:
        """Replace the state with the store's: the newest ``accepted``/``held``/``removed``
        row per (offering, source) (``Store.latest_price_events``) and the fetch states."""
        latest: dict[Key, list[PriceQuoteRow]] = {}
        for row in events:
            latest.setdefault((row.offering, row.source), []).append(row)
        kept: dict[QuoteKey, PriceQuote] = {}
        self._pending, self._removed = {}, {}
        for key, rows in latest.items():
            accepted = [r for r in rows if r.status == "accepted"]
            gone = max((r for r in rows if r.status == "removed"), key=_id, default=None)
            last_accepted = max(map(_id, accepted), default=0)
            if gone is not None and _id(gone) > last_accepted:
                self._removed[key] = gone.observed_at
            else:
                for row in accepted:
                    kept[(*key, PriceUnit(row.unit))] = _quote(row)
            newest = max(last_accepted, _id(gone) if gone else 0)
            for row in rows:
                if row.status == "held" and _id(row) > newest:
                    self._pending[(*key, PriceUnit(row.unit))] = _quote(row)
        self._accepted = kept
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
        quote = next(iter(self.quotes(*key).values()), None)
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
            if key[:2] in self._url_of:
                by_source.setdefault(key[1], []).append(quote)
        return disagreements(by_source)

    def quotes(self, offering: str, source: str) -> dict[PriceUnit, PriceQuote]:
        """The accepted USD quotes of one offering from one source, by unit."""
        return dict(self._by_pair.get((offering, source), {}))

    def rates_of(self, offering: str) -> Mapping[PriceUnit, Decimal]:
        """The offering's listed rates by unit: its first (primary) configured source's
        accepted quotes; until that one is read, the catalog's ``rates`` (or its listed
        per-image price); without either, a cross-check source's (in configured order)."""
        configured = self.config.offerings.get(offering)
        if configured is None:
            return {}
        primary, *cross_checks = configured.pricing_sources or [""]
        found = self.quotes(offering, primary)
        if found:
            return {unit: q.amount for unit, q in found.items()}
        if configured.rates:
            return dict(configured.rates)
        if configured.listed_price_usd is not None:
            return {PriceUnit.IMAGE: configured.listed_price_usd}
        seen = {primary, *cross_checks}
        others = sorted({s for o, s in self._by_pair if o == offering and s not in seen})
        for source in [*cross_checks, *others]:
            found = self.quotes(offering, source)
            if found:
                return {unit: q.amount for unit, q in found.items()}
        return {}

    def current_price(self, offering: str) -> Decimal | None:
        """What one paid probe image of ``offering`` costs: :meth:`rates_of` applied to the
        usage of one probe request (the catalog's, or the one probe answers confirmed); the
        catalog's listed price when the rates cannot price that usage."""
        configured = self.config.offerings.get(offering)
        if configured is None:
            return None
        rates = self.rates_of(offering)
        usage = self._usage.get(offering) or as_usage(configured.usage)
        price = rates_price(rates, usage) if rates else None
        return price if price is not None else configured.listed_price_usd

    def price_of(self, offering: str) -> Decimal | None:
        """:meth:`current_price`, under the name ``monitor.runner.CostLookup`` asks for."""
        return self.current_price(offering)

    def measured_per_image(self, offering: str) -> Decimal | None:
        """The last paid probe answer's measured cost per image, if one reported usage."""
        return self._measured.get(offering)

    def usage_watched(self) -> list[str]:
        """Offerings whose image price depends on usage (the catalog gives one)."""
        return [k for k, o in self.config.offerings.items() if o.usage is not None]

    def restore_usage(self, newest_first: Mapping[str, Iterable[ProbeResult]]) -> None:
        """Start from what the last answers reported (a restart must not count a usage
        change again): per offering, its newest paid results, newest first. The newest
        measured cost is kept; two newest usages that agree become the pricing usage."""
        for offering, results in newest_first.items():
            if offering not in self._usage:
                continue
            reported = [r for r in results if r.kind == Kind.GENERATE and r.usage is not None]
            if reported and (
                measured := per_image(reported[0].measured_cost_usd, reported[0].usage)
            ):
                self._measured[offering] = measured
            if len(reported) >= 2:
                newest, before = reported[0].usage, reported[1].usage
                assert newest is not None and before is not None
                rates = self.rates_of(offering)
                change, _ = judge_usage(
                    offering, rates, self._usage[offering], newest, pending=before
                )
                if change is not None:
                    self._usage[offering] = change.after
        self._cost_rows = None

    def accept(self, result: ProbeResult) -> None:
        """A runner result sink: :meth:`observe`."""
        self.observe(result)

    def observe(self, result: ProbeResult) -> UsageChange | None:
        """Watch one probe result: keep its measured cost per image, and
        judge its usage against the usage that prices the offering's image. A confirmed
        change of tokens per image is a price change: the offering's image is priced from
        the new usage and ``on_usage_change(offering, "usage")`` is called."""
        usage, offering = result.usage, result.offering
        if result.kind != Kind.GENERATE or usage is None or offering not in self._usage:
            return None
        measured = per_image(result.measured_cost_usd, usage)
        if measured is not None:
            self._measured[offering] = measured
            self._cost_rows = None
        change, held = judge_usage(
            offering,
            self.rates_of(offering),
            self._usage[offering],
            usage,
            pending=self._usage_pending.get(offering),
        )
        if held is None:
            self._usage_pending.pop(offering, None)
        else:
            self._usage_pending[offering] = held
        if change is not None:
            self._usage[offering] = change.after
            self._cost_rows = None
            if self.on_usage_change is not None:
                self.on_usage_change(offering, USAGE_SOURCE)
        return change

    def gauges(self) -> Iterator[GaugeRow]:
        """Scrape-time samples of the price gauges (their names are ``monitor.metrics``').
        Label values come from the config and enums only."""
        for (offering, source, _), quote in sorted(self._accepted.items()):
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
        yield from self._cost_gauges()
        flagged = {d.offering for d in self.disagreements()}
        for offering in sorted({o for o, _ in self._url_of}):
            yield GaugeRow(
                name=Gauge.PRICE_DISAGREEMENT,
                labels={"offering": offering},
                value=float(offering in flagged),
            )

    def _cost_gauges(self) -> list[GaugeRow]:
        """Listed and measured cost per image per offering (two series at most each)."""
        if self._cost_rows is None:
            rows = []
            for offering in self.config.enabled_offerings():
                provider, _, model = offering.partition("/")
                labels = {"offering": offering, "provider": provider, "model": model}
                for basis, value in (
                    ("listed", self.current_price(offering)),
                    ("measured", self._measured.get(offering)),
                ):
                    if value is not None:
                        rows.append(
                            GaugeRow(
                                name=Gauge.COST_PER_IMAGE,
                                labels={**labels, "basis": basis},
                                value=float(value),
                            )
                        )
            self._cost_rows = rows
        return self._cost_rows

    def status(self, key: Key) -> str:
        if any(k[:2] == key for k in self._pending):
            return "held"
        if key in self._removed:
            return "removed"
        return "accepted" if self.quotes(*key) else "missing"

    def rows_for_show(self) -> list[ShowRow]:
        """One row per configured (offering, source) and unit, for ``provmon prices show``."""
        now, rows = self._now(), []
        for key in sorted(self._url_of):
            confirmed = self._confirmed(key)
            quotes: list[PriceQuote | None] = [*self.quotes(*key).values()] or [None]
            for quote in quotes:
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


def _id(row: PriceQuoteRow) -> int:
    return row.id or 0


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
