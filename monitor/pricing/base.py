"""What every pricing source shares: targets, parse results, the source base class.

A source reads one kind of page or file. Its :meth:`PriceSource.parse` is pure (no network,
clock or database): text in, :class:`ParseResult` out, or :class:`PriceParseError`. The
fetch layer asks :meth:`PriceSource.plan` which URLs to fetch for which targets, sends
:meth:`PriceSource.headers`, and hands each body to ``parse``.
"""

from __future__ import annotations

import datetime as dt
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import ClassVar

from monitor.interfaces import PriceParseError, PriceQuote, PriceUnit

#: words in a row or card that mean the offering is gone, not that the parser broke
REMOVAL = re.compile(
    r"\b(?:deprecated|retired|shut(?:s|ting)?\s*down|discontinued|no longer available|sunset)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, kw_only=True)
class PricingTarget:
    """One offering a source is asked to price, with the names pages use for its model."""

    offering: str
    provider: str
    model: str
    provider_model: str
    #: the model's display names from the catalog ("Imagen 4 Fast", ...)
    labels: tuple[str, ...] = ()
    #: the model's family; a page section that prices one member covers the whole family
    family: str = ""

    @property
    def group(self) -> str:
        return self.family or self.model


@dataclass(frozen=True, kw_only=True)
class ParseResult:
    """Quotes read from one page, and offerings the page shows as removed or retired."""

    quotes: list[PriceQuote] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    #: pagination cursor when the source (fal's pricing API) has more pages to read
    next_cursor: str | None = None

    def price_text(self) -> str:
        """The price-bearing text only, for :func:`monitor.pricing.normalise.content_hash`."""
        lines = [f"{q.offering} {q.amount} {q.unit} {q.evidence}" for q in self.quotes]
        return "\n".join(sorted(lines) + [f"removed {o}" for o in sorted(self.removed)])


#: URLs to fetch, each with the targets its page prices
Plan = list[tuple[str, list["PricingTarget"]]]


class PriceSource(ABC):
    """One kind of pricing page or file. Subclasses are listed in ``SOURCES``."""

    #: the kind name used in config (``pricing_sources.<name>.kind``)
    kind: ClassVar[str]
    #: what the parser expects to find, for error messages and ``provmon`` help
    expects: ClassVar[str]
    #: the providers whose offerings the page lists prices for (offering-id prefixes): the
    #: one kind-to-provider table, read by the simulator's pages and the pricing tests
    providers: ClassVar[tuple[str, ...]]
    #: provider whose credential the fetch must send (``headers``), or None for public pages
    credential_provider: ClassVar[str | None] = None

    def plan(self, url: str, targets: Sequence[PricingTarget]) -> Plan:
        """The URLs to fetch and the targets each prices. ``url`` may hold ``{provider_model}``,
        ``{model}`` or ``{offering}`` for per-model pages; otherwise one URL prices all."""
        plans: dict[str, list[PricingTarget]] = {}
        for target in targets:
            page = url.format(
                provider_model=target.provider_model, model=target.model, offering=target.offering
            )
            plans.setdefault(page, []).append(target)
        return list(plans.items())

    def headers(self, credential: str | None) -> dict[str, str]:
        """Extra request headers; the credential is the ``credential_provider``'s secret."""
        return {}

    @abstractmethod
    def parse(
        self, text: str, *, targets: Sequence[PricingTarget], observed_at: dt.datetime, url: str
    ) -> ParseResult:
        """Read the targets' prices from ``text``.

        Must be pure. Returns a quote per priced target and lists targets the page shows as
        removed. Raises :class:`PriceParseError` when the expected structure is not found or a
        target is missing without a removal signal; never returns a price of zero.
        """

    # -- helpers for subclasses -----------------------------------------------------------

    def quote(
        self,
        target: PricingTarget,
        amount: Decimal,
        unit: PriceUnit,
        *,
        observed_at: dt.datetime,
        url: str,
        evidence: str,
        listed_text: str,
    ) -> PriceQuote:
        return PriceQuote(
            offering=target.offering,
            amount=amount,
            currency="USD",
            unit=unit,
            source=self.kind,
            observed_at=observed_at,
            evidence=" ".join(evidence.split())[:500],
            source_url=url,
            listed_text=" ".join(listed_text.split()),
        )

    def finish(
        self,
        targets: Sequence[PricingTarget],
        quotes: Mapping[str, PriceQuote | Sequence[PriceQuote]],
        removed: Iterable[str],
        *,
        covered: Iterable[str] = (),
    ) -> ParseResult:
        """Check every target is priced or removed; ``covered`` are groups whose section was
        found, so a target of that group with no row counts as removed (its row is gone).
        A target priced in several units (token rates) has a sequence of quotes."""
        gone, seen = set(removed), set(covered)
        out_removed: list[str] = []
        missing: list[str] = []
        for target in targets:
            if target.offering in quotes:
                continue
            if target.offering in gone or target.group in seen:
                out_removed.append(target.offering)
            else:
                missing.append(target.offering)
        if missing:
            raise PriceParseError(
                f"{self.kind}: expected {self.expects}; found none for {', '.join(missing)}"
            )
        ordered: list[PriceQuote] = []
        for target in targets:
            found = quotes.get(target.offering, ())
            ordered += [found] if isinstance(found, PriceQuote) else found
        return ParseResult(quotes=ordered, removed=out_removed)


def _norm(text: str) -> str:
    text = re.sub(r"\([^)]*\)|\[[^\]]*\]|[*†‡¹²³⁴⁵⁶⁷⁸⁹⁰]", " ", text)
    return " ".join(re.sub(r"[^\w.]+", " ", text.casefold()).split())


#: words a row label may add after a display name ("Imagen 4 Fast image price")
_FILLER = {"image", "images", "price", "prices", "pricing", "per", "output", "in", "usd"}


def match_label(text: str, targets: Sequence[PricingTarget]) -> list[PricingTarget]:
    """Targets whose display name the row label ``text`` names, by the longest label.

    The label must be the whole text or be followed only by filler ("image price"), so
    "Imagen 4" does not match "Imagen 4 for Upscaling" or "Imagen 4 Fast image price".
    """
    row = _norm(text)
    best, found = 0, []
    for target in targets:
        for label in map(_norm, target.labels):
            rest = row.removeprefix(label).split() if row.startswith(label) else None
            if rest is None or (rest and row[len(label)] != " ") or set(rest) - _FILLER:
                continue
            if len(label) > best:
                best, found = len(label), [target]
            elif len(label) == best and target not in found:
                found.append(target)
    return found
