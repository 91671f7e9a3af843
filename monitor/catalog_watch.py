"""The service's watch over its catalog's lifecycle: listings, shutdown dates, served models.

Keeps, in memory, what the free signals say: the providers' model listings (discovery),
the shutdown dates of the catalog and of the providers' deprecation pages, and the model
each offering's answers name. It answers the questions routing, exports, metrics and the
API ask (:meth:`CatalogWatch.view`, :meth:`CatalogWatch.routable`) and reports served-model
changes as events. The decisions are the pure functions of :mod:`monitor.lifecycle`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import httpx

from monitor.config import Config
from monitor.deprecations import DEPRECATION_SOURCES, DeprecationParseError
from monitor.discovery import Discovery, DiscoveryBook, discover
from monitor.interfaces import Gauge, GaugeRow, Kind, ProbeResult
from monitor.lifecycle import (
    Lifecycle,
    LifecycleView,
    ServedModelEvent,
    ServedModels,
    Shutdown,
    catalog_shutdowns,
    lifecycle_of,
    shutdown_for,
)
from monitor.pricing.fetch import fetch

log = logging.getLogger(__name__)

#: how many served-model events the watch keeps for the API
EVENTS_KEPT = 200


@dataclass(frozen=True, kw_only=True)
class SourceRead:
    """The outcome of one read of a deprecation page."""

    source: str
    ok: bool
    shutdowns: int = 0
    error: str | None = None


class CatalogWatch:
    def __init__(self, config: Config, *, now: Callable[[], dt.datetime]) -> None:
        self.config = config
        self.now = now
        self.discoveries = DiscoveryBook()
        self.catalog = catalog_shutdowns({m: c.retired_after for m, c in config.models.items()})
        self.pages: dict[str, list[Shutdown]] = {}
        self.source_ok: dict[str, bool] = {}
        self.served = ServedModels()
        self.events: deque[ServedModelEvent] = deque(maxlen=EVENTS_KEPT)
        #: bumped on every change the gauges show (the metrics cache reads it)
        self.version = 0

    # -- evidence in ----------------------------------------------------------------------

    def observe(self, result: ProbeResult) -> ServedModelEvent | None:
        """A result's served model: an event when it differs from the last or the asked one."""
        if result.kind != Kind.GENERATE or not result.served_model:
            return None
        entry = self.config.offerings.get(result.offering)
        if entry is None:
            return None
        event = self.served.observe(
            result.offering, entry.provider_model, result.served_model, result.started_at
        )
        if event is not None:
            self.events.append(event)
            self.version += 1
            log.warning("%s: %s", result.offering, event.summary)
        return event

    def record_discoveries(self, found: Iterable[Discovery]) -> None:
        self.discoveries.update(found)
        self.version += 1

    async def discover(self, runner: object) -> list[Discovery]:
        found = await discover(self.config, runner)
        self.record_discoveries(found)
        return found

    async def read_source(self, name: str, client: httpx.AsyncClient) -> SourceRead:
        """Fetch and parse one deprecation page; a failure keeps the dates read before."""
        source = self.config.lifecycle_sources[name]
        fetched = await fetch(
            client,
            source.url,
            headers={},
            max_bytes=self.config.defaults.limits.max_body_bytes,
            state=None,
        )
        if not fetched.ok:
            return self._source_done(name, SourceRead(source=name, ok=False, error=fetched.error))
        try:
            read = DEPRECATION_SOURCES[source.kind].parse(fetched.text)
        except DeprecationParseError as exc:
            return self._source_done(name, SourceRead(source=name, ok=False, error=str(exc)))
        shutdowns = [
            Shutdown(
                model=s.model,
                at=s.at,
                provider=provider,
                earliest=s.earliest,
                replacement=s.replacement,
                source=name,
            )
            for s in read
            for provider in source.providers
        ]
        self.pages[name] = shutdowns
        return self._source_done(name, SourceRead(source=name, ok=True, shutdowns=len(read)))

    def _source_done(self, name: str, read: SourceRead) -> SourceRead:
        self.source_ok[name] = read.ok
        self.version += 1
        if not read.ok:
            log.warning("deprecation source %s not read: %s", name, read.error)
        return read

    # -- answers out ----------------------------------------------------------------------

    def shutdowns(self) -> list[Shutdown]:
        return [*self.catalog, *(s for found in self.pages.values() for s in found)]

    def shutdown_of(self, offering: str) -> Shutdown | None:
        entry = self.config.offerings[offering]
        return shutdown_for(
            self.shutdowns(),
            self.config.provider_of(offering),
            self.config.model_of(offering),
            entry.provider_model,
        )

    def view(self, offering: str, *, answered_gone: bool = False) -> LifecycleView:
        return lifecycle_of(
            offering,
            now=self.now(),
            shutdown=self.shutdown_of(offering),
            listed=self.discoveries.listed(offering),
            answered_gone=answered_gone,
        )

    def routable(self, offering: str) -> bool:
        """False once the offering's shutdown time has passed (routing drops it then, not at
        the first 404; a gateway config never carries a model past its shutdown)."""
        shutdown = self.shutdown_of(offering)
        return shutdown is None or self.now() < shutdown.at

    def gauges(self, retired: Callable[[str], bool] = lambda _o: False) -> Iterator[GaugeRow]:
        """Lifecycle, shutdown times, listing drift and source health, for ``/metrics``."""
        config = self.config
        seen: set[tuple[str, str]] = set()
        for offering in config.enabled_offerings():
            provider, model = config.provider_of(offering), config.model_of(offering)
            view = self.view(offering, answered_gone=retired(offering))
            base = {"offering": offering, "provider": provider, "model": model}
            for state in Lifecycle:
                yield GaugeRow(
                    name=Gauge.LIFECYCLE,
                    labels={**base, "state": state.value},
                    value=1.0 if view.state == state else 0.0,
                )
            if view.shutdown_at is not None and (provider, model) not in seen:
                seen.add((provider, model))
                yield GaugeRow(
                    name=Gauge.SHUTDOWN_AT,
                    labels={"provider": provider, "model": model},
                    value=view.shutdown_at.timestamp(),
                )
            if self.discoveries.listed(offering) is not None:
                yield GaugeRow(
                    name=Gauge.CATALOG_UNLISTED,
                    labels={"offering": offering},
                    value=0.0 if self.discoveries.listed(offering) else 1.0,
                )
        for provider, discovery in sorted(self.discoveries.by_provider.items()):
            if discovery.has_listing and discovery.error is None:
                yield GaugeRow(
                    name=Gauge.CATALOG_NEW_MODELS,
                    labels={"provider": provider},
                    value=float(len(discovery.new)),
                )
        for name in sorted(self.config.lifecycle_sources):
            if name in self.source_ok:
                yield GaugeRow(
                    name=Gauge.LIFECYCLE_SOURCE_SUCCESS,
                    labels={"source": name},
                    value=1.0 if self.source_ok[name] else 0.0,
                )
