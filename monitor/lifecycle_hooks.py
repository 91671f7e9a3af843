"""The service's side of model lifecycle (issue 16): discovery and deprecation pages on
their own intervals, served-model events from results, and what routing may carry.

The decisions are :mod:`monitor.lifecycle` (pure) through :class:`CatalogWatch`; this
module only schedules the free calls and turns a served-model change into its effects:
an entry on the offering's incident list, a counter the board annotates, and a re-read of
the offering's prices (a redirected model is billed at its own price).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx

from monitor.catalog_watch import CatalogWatch
from monitor.config import Config
from monitor.health import IncidentAction, IncidentEvent, State
from monitor.http import build_client
from monitor.interfaces import GaugeRow, ProbeResult
from monitor.lifecycle import ServedModelEvent, Shutdown

log = logging.getLogger(__name__)

#: a first discovery and deprecation read this soon after start (then on their intervals)
FIRST_READ_SECONDS = 5.0


class LifecycleHooks:
    """Holds the :class:`CatalogWatch` of a running service.

    ``on_event(event)`` is told of each served-model change (the service stores it and
    re-reads prices); ``state_of(offering)`` is health's state, for the retired view.
    """

    def __init__(
        self,
        config: Config,
        *,
        now: Callable[[], dt.datetime],
        state_of: Callable[[str], State],
        on_event: Callable[[ServedModelEvent], None],
    ) -> None:
        self.config = config
        self.watch = CatalogWatch(config, now=now)
        self.state_of = state_of
        self.on_event = on_event
        self._client: httpx.AsyncClient | None = None
        #: each offering's shutdown, as of the watch's version (issue 18: finding one walks
        #: every known shutdown, ~20 us, 10,000 times per routing evaluation)
        self._shutdowns: dict[str, Shutdown | None] = {}
        self._shutdowns_of = -1
        self._retired: tuple[object, frozenset[str]] = (None, frozenset())

    def accept(self, result: ProbeResult) -> None:
        """A result-pipeline observer: the model its answer named."""
        event = self.watch.observe(result)
        if event is not None:
            self.on_event(event)

    def shutdown_of(self, offering: str) -> Shutdown | None:
        """The offering's shutdown (:meth:`CatalogWatch.shutdown_of`), kept until the
        watch's version moves."""
        if self._shutdowns_of != self.watch.version:
            self._shutdowns.clear()
            self._shutdowns_of = self.watch.version
        try:
            return self._shutdowns[offering]
        except KeyError:
            found = self._shutdowns[offering] = self.watch.shutdown_of(offering)
            return found

    def routable(self, offering: str, now: dt.datetime | None = None) -> bool:
        """False once the offering's shutdown time has passed (``now``: the watch's clock
        when not given)."""
        shutdown = self.shutdown_of(offering)
        return shutdown is None or (now or self.watch.now()) < shutdown.at

    def gauges(self) -> Iterator[GaugeRow]:
        return self.watch.gauges(retired=lambda o: self.state_of(o) == State.RETIRED)

    def gauges_version(self, states: object) -> object:
        """What :meth:`gauges` shows moves only with this (issue 18: at 10,000 offerings a
        read is ~0.2 s of Python): the watch's evidence, which shutdown times have passed,
        and which offerings health calls retired (walked again only when ``states``, a
        version of health's states, moves)."""
        now = self.watch.now()
        passed = sum(1 for s in self.watch.shutdowns() if s.at <= now)
        if self._retired[0] != states:
            offerings = self.config.enabled_offerings()
            gone = frozenset(o for o in offerings if self.state_of(o) == State.RETIRED)
            self._retired = (states, gone)
        return (self.watch.version, passed, self._retired[1])

    def _http(self) -> httpx.AsyncClient:
        if self._client is None or self._client.is_closed:
            self._client = build_client(timeout=60.0)
        return self._client

    async def discover(self, runner: object) -> None:
        found = await self.watch.discover(runner)
        for discovery in found:
            if discovery.error and discovery.has_listing:
                log.info("catalog discovery at %s: %s", discovery.provider, discovery.error)

    async def read_source(self, name: str) -> None:
        await self.watch.read_source(name, self._http())

    def schedule(self, every: Callable[[float, Callable[[], Any]], None], runner: object) -> None:
        """Each deprecation page and the discovery on their own intervals, first soon."""
        for name, source in self.config.lifecycle_sources.items():
            every(source.interval_seconds, _bound(self.read_source, name))
        if self.config.discovery.enabled:
            every(self.config.discovery.interval_seconds, _bound(self.discover, runner))

    async def first_reads(self, runner: object) -> None:
        """The first reads after start (free calls), one failure not stopping the others."""
        await asyncio.sleep(FIRST_READ_SECONDS)
        steps = [self.read_source(name) for name in self.config.lifecycle_sources]
        if self.config.discovery.enabled:
            steps.append(self.discover(runner))
        for outcome in await asyncio.gather(*steps, return_exceptions=True):
            if isinstance(outcome, Exception):
                log.warning("lifecycle read failed: %s", type(outcome).__name__)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    def as_json(self) -> dict[str, Any]:
        """``GET /api/catalog``: lifecycle per offering, discovery per provider, events."""
        watch = self.watch
        offerings = []
        for offering in self.config.enabled_offerings():
            view = watch.view(offering, answered_gone=self.state_of(offering) == State.RETIRED)
            shutdown = watch.shutdown_of(offering)
            offerings.append(
                {
                    "offering": offering,
                    "lifecycle": view.state.value,
                    "reason": view.reason,
                    "shutdown_at": view.shutdown_at.isoformat() if view.shutdown_at else None,
                    "replacement": view.replacement,
                    "source": shutdown.source if shutdown else None,
                    "served_model": watch.served.last.get(offering),
                }
            )
        discovery = {
            provider: {
                "has_listing": d.has_listing,
                "unlisted": list(d.unlisted),
                "new": [
                    {
                        "model": m.model,
                        "price_usd": None if m.price_usd is None else str(m.price_usd),
                    }
                    for m in d.new
                ],
                "error": d.error,
            }
            for provider, d in sorted(watch.discoveries.by_provider.items())
        }
        events = [
            {"offering": e.offering, "at": e.at.isoformat(), "summary": e.summary}
            for e in watch.events
        ]
        return {"offerings": offerings, "discovery": discovery, "served_model_events": events}


def incident_entries(event: ServedModelEvent, vantage: str, state: State) -> list[IncidentEvent]:
    """A served-model change as an entry on the offering's incident list: opened and closed
    at once (it is an event, not a spell), its reason saying what changed."""
    reason = f"lifecycle: {event.summary}"
    return [
        IncidentEvent(
            action=action,
            offering=event.offering,
            vantage=vantage,
            state=state,
            reason=reason,
            at=event.at,
        )
        for action in (IncidentAction.OPEN, IncidentAction.CLOSE)
    ]


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _bound(step: Callable[[Any], Any], arg: object) -> Callable[[], Any]:
    async def call() -> None:
        await step(arg)

    call.__name__ = f"{getattr(step, '__name__', 'step')}({arg if isinstance(arg, str) else ''})"
    return call


def primary_sources(config: Config, offerings: Iterable[str]) -> list[str]:
    """The primary pricing source of each offering (the first it lists), once each."""
    found: list[str] = []
    for offering in offerings:
        sources = config.offerings[offering].pricing_sources
        if sources and sources[0] not in found:
            found.append(sources[0])
    return found
