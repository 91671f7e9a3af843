"""The service's side of shared fate and status feeds (issue 17).

:class:`SharedFate` knows each offering's upstream group (the catalog's ``upstream``,
else the model's ``family``, else the model), when the group last sent a paid probe, and
what the configured status feeds say; :meth:`SharedFate.view` gives the cadence the
:class:`~monitor.fate.FateView` of one offering. The decisions themselves are
:mod:`monitor.fate` and :mod:`monitor.feeds`, the same code the detection benchmark
replays; the only I/O here is :meth:`SharedFate.poll` reading a feed.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from decimal import Decimal

import httpx

from monitor.config import Config
from monitor.fate import FatePolicy, FateView, Verdict, groups, stagger_at, verdict, view
from monitor.feeds import FeedError, FeedIncident, parse, suspicion
from monitor.health import HealthState, State
from monitor.http import build_client
from monitor.incidents import IncidentEvent, group_events, group_offering
from monitor.interfaces import Gauge, GaugeRow

log = logging.getLogger(__name__)

#: a feed body larger than this is not a status feed
MAX_FEED_BYTES = 2_000_000


def upstream_of(config: Config, offering: str) -> str:
    model_id = config.model_of(offering)
    model = config.models[model_id]
    return model.upstream or model.family or model_id


class SharedFate:
    def __init__(
        self,
        config: Config,
        state_of: Callable[[str], HealthState],
        price_of: Callable[[str], Decimal | None],
        regular_interval: Callable[[str, Decimal, dt.datetime], float],
        policy: FatePolicy | None = None,
    ) -> None:
        self.config = config
        self.state_of = state_of
        self.price_of = price_of
        self.regular_interval = regular_interval
        self.policy = policy or FatePolicy()
        self.upstream = {o: upstream_of(config, o) for o in config.enabled_offerings()}
        self.groups = groups(self.upstream)
        self._last_sent: dict[str, dt.datetime] = {}
        #: feed name -> the incidents its last good read listed
        self.incidents: dict[str, list[FeedIncident]] = {}
        #: offering -> since when an active feed incident covers it
        self.feed_since: dict[str, dt.datetime] = {}
        self._client: httpx.AsyncClient | None = None
        #: upstream groups with an open group incident
        self.open_groups: set[str] = set()
        #: where group incidents go (the writer); None: not recorded
        self.incident_sink: Callable[[list[IncidentEvent]], None] | None = None

    def members(self, offering: str) -> tuple[str, ...]:
        return self.groups.get(self.upstream.get(offering, ""), (offering,))

    def siblings(self, offering: str) -> tuple[str, ...]:
        return tuple(m for m in self.members(offering) if m != offering)

    def sent(self, offering: str, at: dt.datetime) -> None:
        """A paid probe of ``offering`` was sent: the group's stagger moves on."""
        self._last_sent[self.upstream.get(offering, offering)] = at

    def intervals(self, offering: str, now: dt.datetime) -> list[float]:
        """The budget's regular interval of each priced member of ``offering``'s group."""
        out = []
        for member in self.members(offering):
            price = self.price_of(member)
            if price:
                out.append(self.regular_interval(member, price, now))
        return out

    def view(self, offering: str, now: dt.datetime) -> FateView:
        """What the group and the feeds ask of ``offering``'s next paid probe."""
        members = self.members(offering)
        states = {m: self.state_of(m) for m in members}
        last = self._last_sent.get(self.upstream.get(offering, offering))
        stagger = None if len(members) < 2 else stagger_at(last, self.intervals(offering, now))
        return view(
            offering,
            states,
            self.policy,
            now,
            stagger=stagger,
            feed_since=self.feed_since.get(offering),
        )

    def verdict(self, offering: str) -> tuple[Verdict, tuple[str, ...]]:
        """Upstream outage, single provider's, or none, for ``offering``'s group."""
        return verdict({m: self.state_of(m) for m in self.members(offering)}, self.policy)

    def state_changed(
        self, offering: str, vantage: str, before: HealthState, after: HealthState
    ) -> None:
        """After a member's state changed: open the group's incident when the verdict
        becomes an upstream outage (members down at two providers or more), close it when
        it no longer is. A single provider's outage opens nothing for the group."""
        group = self.upstream.get(offering)
        if group is None or vantage != self.config.vantage:
            return
        if State.DOWN not in (before.state, after.state):
            # the verdict reads only which members are down: it cannot have changed (and a
            # group of thousands is not walked at every change of one of them)
            return
        found, down = self.verdict(offering)
        covered = down if found == Verdict.UPSTREAM else ()
        at = after.since or dt.datetime.now(dt.UTC)
        events = group_events(group, vantage, group in self.open_groups, covered, at)
        if events:
            log.warning("upstream %s: %s", group, events[0].reason)
            self.open_groups.symmetric_difference_update({group})
            if self.incident_sink is not None:
                self.incident_sink(events)

    def resume(self, open_offerings: set[str], now: dt.datetime) -> None:
        """After a restart's replay: take over the group incidents the store holds open
        (``open_offerings``: offerings with an open incident), closing those whose
        upstream outage ended while provmon was away and opening those that began."""
        for group, members in self.groups.items():
            stored = group_offering(group) in open_offerings
            found, down = self.verdict(members[0])
            covered = down if found == Verdict.UPSTREAM else ()
            if stored:
                self.open_groups.add(group)
            events = group_events(group, self.config.vantage, stored, covered, now)
            if events:
                self.open_groups.symmetric_difference_update({group})
                if self.incident_sink is not None:
                    self.incident_sink(events)

    def feed_notices(self) -> list[tuple[FeedIncident, tuple[str, ...]]]:
        """Every active incident of the configured feeds with the offerings it covers."""
        out = []
        for name, listed in sorted(self.incidents.items()):
            mapping = self.config.status_feeds[name].components
            for incident in listed:
                covered = tuple(sorted(suspicion([incident], mapping)))
                if covered:
                    out.append((incident, covered))
        return out

    def apply_feed(self, name: str, incidents: list[FeedIncident], now: dt.datetime) -> set[str]:
        """Take one feed's incidents; the offerings whose suspicion changed. Suspicion is
        dated from when provmon first saw it, so one incident asks for one early probe."""
        self.incidents[name] = incidents
        covered: dict[str, dt.datetime] = {}
        for feed_name, listed in self.incidents.items():
            mapping = self.config.status_feeds[feed_name].components
            for offering in suspicion(listed, mapping):
                covered[offering] = self.feed_since.get(offering, now)
        changed = set(covered) ^ set(self.feed_since)
        self.feed_since = covered
        return changed

    def gauges(self) -> Iterable[GaugeRow]:
        """``provmon_status_feed_incident``: one series per configured feed and offering it
        maps (labels from the config, never from the feed's text)."""
        for name, feed in self.config.status_feeds.items():
            active = suspicion(self.incidents.get(name, []), feed.components)
            for offering in sorted({o for _, o in feed.pairs()}):
                labels = {
                    "offering": offering,
                    "provider": self.config.provider_of(offering),
                    "model": self.config.model_of(offering),
                    "feed": name,
                }
                value = 1.0 if offering in active else 0.0
                yield GaugeRow(name=Gauge.STATUS_FEED_INCIDENT, labels=labels, value=value)

    async def poll(self, name: str, now: dt.datetime | None = None) -> set[str]:
        """Read one configured feed; a failed or malformed read keeps the last good one
        (a feed is a claim: its absence is no news) and logs one line."""
        feed = self.config.status_feeds[name]
        if self._client is None:
            self._client = build_client(timeout=10.0)
        try:
            response = await self._client.get(feed.url)
            if response.status_code != 200:
                raise FeedError(f"status feed {name!r}: HTTP {response.status_code}")
            if len(response.content) > MAX_FEED_BYTES:
                raise FeedError(f"status feed {name!r}: body over {MAX_FEED_BYTES} bytes")
            incidents = parse(feed.kind, name, response.content)
        except (httpx.HTTPError, FeedError) as exc:
            log.warning("status feed %s not read: %s", name, str(exc) or type(exc).__name__)
            return set()
        return self.apply_feed(name, incidents, now or dt.datetime.now(dt.UTC))

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
