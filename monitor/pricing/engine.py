"""The live pricing engine: fetch, parse, judge and store each configured pricing source.

One :class:`PricingEngine` per process. :meth:`PricingEngine.refresh` is a single unit of
work (the scheduler calls it per source): take the deployment-wide ``pricing`` lease, plan
the source's URLs, fetch each conditionally, parse, judge against the last accepted quotes,
store what changed (accepted quotes with evidence, URL and content hash; ``held`` jumps;
``removed`` rows) and the fetch state. A failed fetch or parse writes no price: the last
good one stays, and turns stale past the source's max age. Agents that do not hold the
lease fetch nothing and re-read the store. Metrics, ``/api/prices`` and ``provmon prices``
read the in-memory state (:meth:`gauges`, :meth:`rows_for_show`, :meth:`current_price`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import partial
from typing import Any
from urllib.parse import urlencode

import httpx

from monitor.config import Config
from monitor.http import build_client
from monitor.interfaces import PriceParseError, PriceQuote
from monitor.pricing import SOURCES
from monitor.pricing.base import ParseResult, PricingTarget
from monitor.pricing.fetch import FetchResult, FetchState, FetchStatus, fetch
from monitor.pricing.judge import DEFAULT_MAX_JUMP, Judgement, Verdict, judge, next_state
from monitor.pricing.normalise import content_hash
from monitor.pricing.plan import ShowRow, SourcePlan, state_key
from monitor.pricing.state import PriceBook
from monitor.pricing.targets import targets_for
from monitor.secrets import read_secret, scrub
from monitor.store import FetchStateRow, Store

__all__ = ["PageReport", "PricingEngine", "RefreshReport", "ShowRow", "parse_saved"]

LEASE = "pricing"
NO_LEASE = "another agent holds the pricing lease"
DEFAULT_MAX_BYTES = 8 * 1024 * 1024
#: pages of a paginated answer (fal's pricing API) read per URL before giving up
MAX_PAGES = 10


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _client() -> httpx.AsyncClient:
    return build_client(timeout=30.0, max_connections=4)


@dataclass(frozen=True, kw_only=True)
class PageReport:
    """One planned URL of a refresh: ``ok``, ``not_modified``, ``fetch_failed``,
    ``parse_failed``."""

    url: str
    status: str
    error: str | None = None
    transient: bool = False

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "not_modified")


@dataclass(frozen=True, kw_only=True)
class RefreshReport:
    """What one refresh of one source did. ``skipped`` (no lease, no credential) is not a
    failure; ``ok`` is True only when every page was read and parsed."""

    source: str
    skipped: str | None = None
    pages: list[PageReport] = field(default_factory=list)
    judgements: list[Judgement] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.skipped is None and all(p.ok for p in self.pages)

    def offerings(self, verdict: Verdict) -> list[str]:
        return [j.offering for j in self.judgements if j.verdict is verdict]

    @property
    def failures(self) -> list[str]:
        return [f"{p.url}: {p.error}" for p in self.pages if not p.ok]


class PricingEngine(PriceBook):
    """Pricing state of one process; see the module docstring for the contract.

    ``now`` and ``client_factory`` are injectable (tests move time, use loopback servers).
    ``on_change(offering, source)`` is called once per changed or newly removed price.
    Store calls run in worker threads; the rest runs on the caller's event loop.
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        now: Callable[[], dt.datetime] = _utcnow,
        client_factory: Callable[[], httpx.AsyncClient] = _client,
        on_change: Callable[[str, str], None] | None = None,
        holder: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_jump: Decimal = DEFAULT_MAX_JUMP,
    ) -> None:
        super().__init__(config, now)
        self.store = store
        self._client_factory, self._on_change = client_factory, on_change
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.max_bytes, self.max_jump = max_bytes, max_jump
        intervals = [s.interval_seconds for s in config.pricing_sources.values()] or [3600.0]
        self.lease_ttl = dt.timedelta(seconds=2 * min(intervals))
        self.leader = False
        self._usage_loaded = False
        self._locks: dict[str, asyncio.Lock] = {}
        for source in self.sources.values():
            self._credential(source)

    # -- state from the store ---------------------------------------------------------------

    async def load(self) -> None:
        """Rebuild accepted, held and removed prices and fetch states from the store."""
        events = await asyncio.to_thread(self.store.latest_price_events)
        states = await asyncio.to_thread(self.store.fetch_states)
        self.restore(events, states)
        if not self._usage_loaded:  # once: the book keeps what answers report afterwards
            self._usage_loaded = True
            recent = partial(self.store.recent_results, kind="generate", limit=2)
            newest = {o: await asyncio.to_thread(recent, offering=o) for o in self.usage_watched()}
            self.restore_usage(newest)

    # -- refreshing -------------------------------------------------------------------------

    async def take_lease(self) -> bool:
        """Take or renew the deployment's ``pricing`` lease; True when this engine holds it."""
        self.leader = await asyncio.to_thread(
            self.store.take_lease, LEASE, self.holder, now=self._now(), ttl=self.lease_ttl
        )
        return self.leader

    async def release(self) -> None:
        """Give the lease up (clean shutdown) so another agent can fetch at once."""
        await asyncio.to_thread(self.store.release_lease, LEASE, self.holder)
        self.leader = False

    async def refresh(self, name: str, *, force: bool = False) -> RefreshReport:
        """Refresh one source now. Raises KeyError for an unconfigured source name.

        ``force`` fetches even when another agent holds the lease (a manual diagnosis from
        the command line; the lease is left alone)."""
        return (await self._refresh_many([self.sources[name]], force))[0]

    async def refresh_all(self, *, force: bool = False) -> list[RefreshReport]:
        """Refresh every configured source (under one lease check)."""
        return await self._refresh_many(list(self.sources.values()), force)

    async def _refresh_many(self, sources: list[SourcePlan], force: bool) -> list[RefreshReport]:
        if not force and not await self.take_lease():
            await self.load()  # another agent fetches: show what it stored
            for source in sources:
                self._credential(source)  # keep skip reasons current for the gauges
            return [RefreshReport(source=s.name, skipped=NO_LEASE) for s in sources]
        return list(await asyncio.gather(*(self._refresh(s) for s in sources)))

    def _credential(self, source: SourcePlan) -> str | None:
        """The source's credential, or None; a source lacking one is recorded as skipped."""
        wanted = source.impl.credential_provider
        if wanted is None:
            return None
        provider = self.config.providers.get(wanted)
        env = provider.credential_env if provider else None
        value = read_secret(env)
        if value is None:
            where = f"environment variable {env}" if env else f"a configured {wanted} provider"
            self._skipped[source.name] = f"needs the {wanted} credential; {where} is not set"
        else:
            self._skipped.pop(source.name, None)
        return value

    async def _refresh(self, source: SourcePlan) -> RefreshReport:
        credential = self._credential(source)
        if source.name in self._skipped:
            return RefreshReport(source=source.name, skipped=self._skipped[source.name])
        lock = self._locks.setdefault(source.name, asyncio.Lock())
        headers = source.impl.headers(credential)
        pages: list[PageReport] = []
        judgements: list[Judgement] = []
        async with lock, self._client_factory() as client:
            for url, targets in source.plan:
                page, found = await self._read(client, source, url, targets, headers)
                pages.append(page)
                judgements += found
        return RefreshReport(source=source.name, pages=pages, judgements=judgements)

    def _covered(self, source: str, targets: Iterable[PricingTarget]) -> bool:
        """Every target has a current price or a removal: a 304 may then keep them."""
        held = {k[:2] for k in self._pending}
        keys = [(t.offering, source) for t in targets]
        return all((self.quotes(*k) or k in self._removed) and k not in held for k in keys)

    async def _read(
        self,
        client: httpx.AsyncClient,
        source: SourcePlan,
        url: str,
        targets: list[PricingTarget],
        headers: Mapping[str, str],
    ) -> tuple[PageReport, list[Judgement]]:
        key, now = state_key(url), self._now()
        state = self._fetch.get(key) or FetchStateRow(url=key, source=source.name)
        known = FetchState(etag=state.etag, last_modified=state.last_modified)
        validators = known if self._covered(source.name, targets) else None
        got = await fetch(client, url, headers=headers, max_bytes=self.max_bytes, state=validators)
        judgements: list[Judgement] = []
        if got.status is FetchStatus.NOT_MODIFIED:
            page = PageReport(url=url, status="not_modified")
        elif got.status is FetchStatus.FAILED:
            page = PageReport(
                url=url, status="fetch_failed", error=got.error, transient=got.transient
            )
        else:
            try:
                parsed = await self._parse_all(client, source, got, targets, headers, now)
            except PriceParseError as exc:
                page = PageReport(url=url, status="parse_failed", error=scrub(str(exc))[:500])
            else:
                judgements, digest = await self._apply(source, parsed, got.url, now)
                page = PageReport(url=url, status="ok")
                # validators only after a clean read: a broken or held page is read in full
                # next time, so a fixed parser or a second reading sees the real page
                clean = not any(j.verdict is Verdict.HELD for j in judgements)
                state.etag = got.etag if clean else None
                state.last_modified = got.last_modified if clean else None
                state.content_hash = digest
        state.last_attempt_at = now
        if page.ok:
            state.last_success_at, state.last_error, state.consecutive_failures = now, None, 0
        else:
            state.last_error = f"{page.status}: {page.error}"[:1000]
            state.consecutive_failures += 1
        self._fetch[key] = state
        await asyncio.to_thread(self.store.save_fetch_state, state)
        return page, judgements

    async def _parse_all(
        self,
        client: httpx.AsyncClient,
        source: SourcePlan,
        got: FetchResult,
        targets: list[PricingTarget],
        headers: Mapping[str, str],
        now: dt.datetime,
    ) -> ParseResult:
        """Parse the page, following ``next_cursor`` pages (fal's pricing API) on the same URL."""
        quotes: list[PriceQuote] = []
        removed: list[str] = []
        left = list(targets)
        for _ in range(MAX_PAGES):
            parse = partial(source.impl.parse, targets=left, observed_at=now, url=got.url)
            result = await asyncio.to_thread(parse, got.text)
            quotes += result.quotes
            removed += result.removed
            found = {q.offering for q in quotes}
            left = [t for t in left if t.offering not in found]
            if result.next_cursor is None or not left:
                return ParseResult(quotes=quotes, removed=removed)
            # the cursor parameter's name follows fal's docs (UNCONFIRMED beyond them)
            joiner = "&" if "?" in got.url else "?"
            next_url = f"{got.url}{joiner}{urlencode({'cursor': result.next_cursor})}"
            got = await fetch(
                client, next_url, headers=headers, max_bytes=self.max_bytes, state=None
            )
            if got.status is not FetchStatus.OK:
                raise PriceParseError(f"{source.name}: next page unreadable: {got.error}")
        raise PriceParseError(f"{source.name}: more than {MAX_PAGES} pages of prices")

    async def _apply(
        self, source: SourcePlan, parsed: ParseResult, url: str, now: dt.datetime
    ) -> tuple[list[Judgement], str]:
        """Judge one parsed page, store what changed, and move the in-memory state."""
        result = ParseResult(
            quotes=[replace(q, source=source.name) for q in parsed.quotes],
            removed=parsed.removed,
        )
        digest = content_hash(result.price_text())
        judgements = judge(
            self._accepted,
            result,
            source=source.name,
            pending=self._pending,
            max_jump=self.max_jump,
        )
        fresh = [j.quote for j in judgements if j.verdict in (Verdict.NEW, Verdict.CHANGED)]
        held = [j.quote for j in judgements if j.verdict is Verdict.HELD]
        gone = [
            j
            for j in judgements
            if j.verdict is Verdict.REMOVED and (j.offering, source.name) not in self._removed
        ]
        await asyncio.to_thread(self._save, [q for q in fresh if q], [q for q in held if q], digest)
        for j in gone:
            await asyncio.to_thread(
                partial(
                    self.store.save_price_removed,
                    offering=j.offering,
                    source=source.name,
                    observed_at=now,
                    source_url=url,
                    evidence=j.reason,
                    content_hash=digest,
                )
            )
        self._accepted, self._pending = next_state(self._accepted, self._pending, judgements)
        for j in judgements:
            key = (j.offering, source.name)
            if j.verdict is Verdict.REMOVED:
                self._removed.setdefault(key, now)
            else:
                self._removed.pop(key, None)
        if self._on_change is not None:  # once per offering: its units may move together
            changed = [j.offering for j in judgements if j.verdict is Verdict.CHANGED or j in gone]
            for offering in dict.fromkeys(changed):
                self._on_change(offering, source.name)
        return judgements, digest

    def _save(self, fresh: list[PriceQuote], held: list[PriceQuote], digest: str) -> None:
        if fresh:
            self.store.save_quotes(fresh, content_hash=digest, status="accepted")
        if held:
            self.store.save_quotes(held, content_hash=digest, status="held")

    def history(self, offering: str | None = None, *, limit: int = 500) -> list[dict[str, Any]]:
        """Stored price events, newest first, as JSON-ready dicts for ``/api/prices``.
        Blocking (a store query): call it from a worker thread."""
        return [
            {
                "offering": row.offering,
                "source": row.source,
                "status": row.status,
                "amount": row.amount or None,
                "currency": row.currency or None,
                "unit": row.unit or None,
                "observed_at": row.observed_at.isoformat(),
                "source_url": row.source_url,
                "evidence": row.evidence,
                "content_hash": row.content_hash,
            }
            for row in self.store.price_history(offering=offering, limit=limit)
        ]


def parse_saved(
    config: Config, source: str, text: str, *, url: str = "", observed_at: dt.datetime | None = None
) -> ParseResult:
    """Parse a saved page or file as ``provmon prices parse SOURCE FILE`` does.

    ``source`` is a configured source name (its offerings are the targets) or a kind in
    ``SOURCES`` (the offerings of every configured source of that kind; when none is
    configured, one target per catalog model, its quotes named by the bare model id).
    ``url`` is where the page came from, if known (per-model pages use it to tell which
    model they price). Raises KeyError for an unknown source and
    :class:`PriceParseError` as the parser does; never fetches.
    """
    if source in config.pricing_sources:
        kind, names = config.pricing_sources[source].kind, [source]
    elif source in SOURCES:
        kind = source
        names = [n for n, s in config.pricing_sources.items() if s.kind == kind]
    else:
        known = sorted({*config.pricing_sources, *SOURCES})
        raise KeyError(f"unknown pricing source {source!r}; known: {', '.join(known)}")
    targets = {t.offering: t for n in names for t in targets_for(config, n)}
    # no configured source of that kind: one target per catalog model, named by the model
    chosen = list(targets.values()) or [
        PricingTarget(
            offering=model,
            provider="",
            model=model,
            provider_model=model,
            labels=entry.display_names,
            family=entry.family,
        )
        for model, entry in config.models.items()
    ]
    return SOURCES[kind]().parse(
        text, targets=chosen, observed_at=observed_at or _utcnow(), url=url
    )
