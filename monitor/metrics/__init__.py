"""The one module (a package: ``_text`` holds the cached exposition text) that touches
prometheus-client. Names follow DESIGN.md's table.

Counters and the duration histogram are updated as results land (:meth:`Metrics.accept`).
State (offering state, prices, budget, routes) is read at scrape time by a custom
collector from the engines' in-memory state, never by a SQL query per scrape. The registry
is built by the caller and injected, never the global one.

``/metrics`` is served by :meth:`Metrics.render`, not by ``generate_latest``: at 1,000
offerings the exposition holds ~250,000 samples (most of them histogram buckets), and
``generate_latest`` rebuilds every sample line on every scrape (~10 s, issue 8). Here the
result-driven families (the histogram, the counters, the timeout gauge) live in a small
store of our own that keeps, per label set, its values and its exposition lines, rendered
again when that series changes (a %-format of bytes, ~10 us for a histogram series, paid
in ``accept``), so a scrape joins cached bytes and formats only the scrape-time gauges
(whose lines are cached by what they show). The store is also registered in the registry as a
collector, so ``generate_latest(registry)`` and ``registry.get_sample_value`` still see
every family (with the same samples, minus the ``_created`` series, which no rule or
board reads and which ``PROMETHEUS_DISABLE_CREATED_SERIES`` drops in client_python too).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar, cast

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.config import Config
from monitor.interfaces import Gauge, Kind, Outcome, ProbeResult, State
from monitor.interfaces import GaugeRow as GaugeRow
from monitor.interfaces import StateRow as StateRow
from monitor.metrics._text import (
    CONTENT_TYPE,
    DURATION_BUCKETS,
    PIECE_CHUNKS,
    _Family,
    _header,
    _label_text,
    _number,
    _StoreCollector,
    pieces,
)

_T = TypeVar("_T")

__all__ = [
    "CONTENT_TYPE",
    "DURATION_BUCKETS",
    "GAUGES",
    "PIECE_CHUNKS",
    "GaugeRow",
    "Metrics",
    "StateRow",
    "pieces",
]

#: number, this module the name (DESIGN.md's table; names never change once a board uses them)
GAUGES: dict[Gauge, tuple[str, str]] = {
    Gauge.PRICE: ("provmon_price_usd", "Current accepted listed price per unit, by source"),
    Gauge.PRICE_FETCH_SUCCESS: (
        "provmon_price_fetch_success",
        "1 if the last refresh of the source read every page",
    ),
    Gauge.PRICE_FETCH_LAST_SUCCESS: (
        "provmon_price_fetch_last_success_timestamp_seconds",
        "When every page of the source was last read successfully",
    ),
    Gauge.PRICE_STALE: (
        "provmon_price_stale",
        "1 when the offering's price from the source is older than its max age",
    ),
    Gauge.PRICE_DISAGREEMENT: (
        "provmon_price_disagreement",
        "1 when the offering's sources list prices further apart than the tolerance",
    ),
    Gauge.ROUTE_RANK: (
        "provmon_route_rank",
        "Rank of the offering in the model's route (1 first, 0 excluded)",
    ),
    Gauge.ROUTE_WEIGHT: (
        "provmon_route_weight",
        "Share of the model's traffic the route sends to the offering",
    ),
    Gauge.EFFECTIVE_COST: (
        "provmon_effective_cost_usd",
        "Listed price divided by success ratio, per successful unit",
    ),
    Gauge.BUDGET: ("provmon_probe_budget_usd", "Daily cap of paid probes, by scope"),
    Gauge.BUDGET_REMAINING: (
        "provmon_probe_budget_remaining_usd",
        "Money left today for paid probes, by scope",
    ),
    Gauge.DATABASE_UP: (
        "provmon_database_up",
        "1 while the database answers, 0 while it is away (results buffered)",
    ),
    Gauge.ACCOUNT_PROBLEM: (
        "provmon_offering_account_problem",
        "1 while the offering's latest answers say our account is at fault (key, billing, "
        "quota, permission): ours to fix, not the provider's outage",
    ),
    Gauge.STATUS_FEED_INCIDENT: (
        "provmon_status_feed_incident",
        "1 while a configured status feed lists an active incident covering the offering: "
        "a claim provmon confirms, never a state",
    ),
    Gauge.COST_PER_IMAGE: (
        "provmon_cost_per_image_usd",
        "What one image of the offering's probe request costs: basis=listed (rates x "
        "expected usage) or measured (the last answer's reported usage)",
    ),
    Gauge.LIFECYCLE: (
        "provmon_offering_lifecycle",
        "1 for the offering's lifecycle state (live, deprecated, retired, unlisted)",
    ),
    Gauge.SHUTDOWN_AT: (
        "provmon_model_shutdown_timestamp_seconds",
        "Known shutdown time of a model at a provider, from the catalog or a deprecation page",
    ),
    Gauge.CATALOG_UNLISTED: (
        "provmon_catalog_unlisted",
        "1 when the provider's own model listing lacks the offering",
    ),
    Gauge.CATALOG_NEW_MODELS: (
        "provmon_catalog_new_models",
        "Image models the provider lists that the catalog lacks",
    ),
    Gauge.LIFECYCLE_SOURCE_SUCCESS: (
        "provmon_lifecycle_source_success",
        "1 when the last read of the deprecation page parsed",
    ),
}

HELP_OF = dict(GAUGES.values())

STATE_NAME = "provmon_offering_state"
STATE_HELP = "1 for the offering's current health state, 0 for the others"
_STATE_LABELS = ("offering", "provider", "model", "vantage")


class _StateCollector(Collector):
    def __init__(
        self,
        states: Callable[[], Iterable[StateRow]],
        states_version: Callable[[], object],
        extra: list[Callable[[], Iterable[GaugeRow]]],
        versions: list[Callable[[], object] | None],
    ) -> None:
        self._states = states
        self._states_version = states_version
        self._extra = extra
        self._versions = versions
        #: per source ("states", or a gauge source's index): the version its lines were
        #: rendered at, and the lines
        self._blocks: dict[object, tuple[object, object]] = {}
        # label text cached per label set: a scrape formats values, not labels
        self._state_text: dict[tuple[str, ...], bytes] = {}
        self._gauge_text: dict[tuple[str, tuple[tuple[str, str], ...]], bytes] = {}

    def describe(self) -> list[Metric]:
        # describing without collecting: registration must not read engine state
        return [GaugeMetricFamily(STATE_NAME, "state", labels=[])]

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            STATE_NAME,
            STATE_HELP,
            labels=["offering", "provider", "model", "vantage", "state"],
        )
        for row in self._states():
            for state in State:
                family.add_metric(
                    [row.offering, row.provider, row.model, row.vantage, state.value],
                    1.0 if state == row.state else 0.0,
                )
        yield family
        families: dict[str, GaugeMetricFamily] = {}
        for source in self._extra:
            for gauge in source():
                name, help_text = GAUGES[gauge.name]
                fam = families.get(name)
                if fam is None:
                    fam = GaugeMetricFamily(name, help_text, labels=list(gauge.labels))
                    families[name] = fam
                fam.add_metric(list(gauge.labels.values()), gauge.value)
        yield from families.values()

    def render(self, out: list[bytes]) -> None:
        """The same families as :meth:`collect`, written straight to text.

        Rows repeat from scrape to scrape, so each row's lines are kept by what they
        show (an offering and its state; a gauge's name, labels and value), and a source
        with a version is read again only when its version moves."""
        out.extend(self._cached("states", self._states_version(), self._state_lines))
        gauges: dict[str, list[bytes]] = {}
        for index, source in enumerate(self._extra):
            version = self._versions[index]
            stamp = version() if version is not None else None
            by_family = self._cached(index, stamp, functools.partial(self._lines, source))
            for name, lines in by_family.items():
                block = gauges.get(name)
                if block is None:
                    help_text = HELP_OF[name]
                    block = gauges[name] = [_header(name, help_text, "gauge")]
                block.extend(lines)
        for block in gauges.values():
            out.extend(block)

    def _cached(self, key: object, stamp: object, build: Callable[[], _T]) -> _T:
        """``build()``, or what it gave last time for ``key`` while ``stamp`` (a source's
        version; None: no version, build every time) has not moved."""
        cached = self._blocks.get(key)
        if stamp is None or cached is None or cached[0] != stamp:
            cached = self._blocks[key] = (stamp, build())
        return cast(_T, cached[1])

    def _state_lines(self) -> list[bytes]:
        texts: list[bytes] = [_header(STATE_NAME, STATE_HELP, "gauge")]
        state_text = self._state_text
        if len(state_text) > 100_000:  # label sets that left: forget them now and then
            state_text.clear()
        for row in self._states():
            key = (row.offering, row.provider, row.model, row.vantage, row.state.value)
            text = state_text.get(key)
            if text is None:
                pairs = list(zip(_STATE_LABELS, key, strict=False))
                text = state_text[key] = "".join(
                    f"{STATE_NAME}{{{_label_text([*pairs, ('state', s.value)])}}} "
                    f"{'1.0' if s == row.state else '0.0'}\n"
                    for s in State
                ).encode()
            texts.append(text)
        return texts

    def _lines(self, source: Callable[[], Iterable[GaugeRow]]) -> dict[str, list[bytes]]:
        """One source's rows as sample lines by family: the name and labels of each row
        are written once per label set and kept; only the value is formatted per scrape."""
        lines: dict[str, list[bytes]] = {}
        prefixes = self._gauge_text
        if len(prefixes) > 200_000:  # label sets that left: forget them now and then
            prefixes.clear()
        for gauge in source():
            name = GAUGES[gauge.name][0]
            key = (name, tuple(gauge.labels.items()))
            prefix = prefixes.get(key)
            if prefix is None:
                labels = _label_text(key[1])
                labels = f"{{{labels}}}" if labels else ""
                prefix = prefixes[key] = f"{name}{labels} ".encode()
            lines.setdefault(name, []).append(prefix + _number(gauge.value) + b"\n")
        return lines


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        labels = ["offering", "provider", "model", "vantage", "kind"]
        self.duration = _Family(
            "provmon_probe_duration_seconds",
            "Time of each probe phase, as a client of the provider would wait",
            "histogram",
            [*labels, "phase"],
            buckets=DURATION_BUCKETS,
        )
        self.probes = _Family(
            "provmon_probes", "Finished probes by outcome", "counter", [*labels, "outcome"]
        )
        self.skipped = _Family(
            "provmon_probes_skipped",
            "Probes not sent, by reason",
            "counter",
            ["offering", "reason"],
        )
        self.spend = _Family(
            "provmon_probe_spend_usd",
            "Money spent on paid probes (listed price)",
            "counter",
            ["offering", "provider"],
        )
        self.timeout = _Family(
            "provmon_probe_timeout_seconds",
            "The deadline each probe kind runs under",
            "gauge",
            ["offering", "kind"],
        )
        self.price_changes = _Family(
            "provmon_price_changes",
            "Listed price changes and removals seen by a pricing source",
            "counter",
            ["offering", "source"],
        )
        self.results_dropped = _Family(
            "provmon_results_dropped", "Results that could not be stored", "counter"
        )
        self.served_model_changes = _Family(
            "provmon_served_model_changes",
            "Answers naming another model than before or than asked for (silent redirects)",
            "counter",
            ["offering"],
        )
        self._families = [
            self.duration,
            self.probes,
            self.skipped,
            self.spend,
            self.timeout,
            self.price_changes,
            self.results_dropped,
            self.served_model_changes,
        ]
        self.registry.register(_StoreCollector(self._families))
        self._extra: list[Callable[[], Iterable[GaugeRow]]] = []
        self._versions: list[Callable[[], object] | None] = []
        self._states: Callable[[], Iterable[StateRow]] = lambda: ()
        self._states_version: Callable[[], object] | None = None
        self._collector = _StateCollector(
            lambda: self._states(),
            lambda: self._states_version() if self._states_version is not None else None,
            self._extra,
            self._versions,
        )
        self.registry.register(self._collector)

    def render(self) -> bytes:
        """The text exposition of every provmon metric, in one piece (tests, the CLI)."""
        return b"".join(self.render_chunks())

    def render_chunks(self) -> list[bytes]:
        """The text exposition as the list of its cached texts (a series, a header, a
        scrape-time row), for ``/metrics`` to send with :func:`pieces`.

        The same families and samples as ``generate_latest(self.registry)`` (less the
        ``_created`` series), from cached series text plus the scrape-time gauges. The
        texts are immutable, so the list is a consistent snapshot; it is not joined here:
        at 1,000 offerings the exposition is ~24 MB, and a buffer that size (or the
        pieces of one, all alive at once) is fresh memory whose page faults cost more
        than the copying. :func:`pieces` joins a few at a time as the socket takes them.
        """
        out: list[bytes] = []
        for family in self._families:
            family.chunks(out)
        self._collector.render(out)
        return out

    def watch_states(
        self,
        source: Callable[[], Iterable[StateRow]],
        *,
        version: Callable[[], object] | None = None,
    ) -> None:
        """Read offering states from ``source``; with ``version``, only when it moves."""
        self._states = source
        self._states_version = version

    def add_gauges(
        self,
        source: Callable[[], Iterable[GaugeRow]],
        *,
        version: Callable[[], object] | None = None,
    ) -> None:
        """Add scrape-time gauges (prices, budget, routes) computed by ``source``; their
        names and help texts are :data:`GAUGES`'.

        With ``version``, the source is read again only when ``version()`` changes (routes
        change once per evaluation, not per scrape); without it, at every scrape."""
        self._extra.append(source)
        self._versions.append(version)

    def init_offerings(self, config: Config, deadlines: Callable[[str, Kind], float]) -> None:
        """Create label sets for configured offerings so series exist from the start."""
        for offering in config.enabled_offerings():
            provider, model = config.provider_of(offering), config.model_of(offering)
            for kind in Kind:
                base = [offering, provider, model, config.vantage, kind.value]
                for outcome in Outcome:
                    self.probes.labels(*base, outcome.value)
                self.timeout.labels(offering, kind.value).set(deadlines(offering, kind))
            self.spend.labels(offering, provider)
            self.served_model_changes.labels(offering)
            for reason in ("missed", "overlap", "budget", "no_price"):
                self.skipped.labels(offering, reason)
            for source in config.offerings[offering].pricing_sources:
                self.price_changes.labels(offering, source)

    def accept(self, result: ProbeResult) -> None:
        if result.cancelled:
            return
        base = [result.offering, result.provider, result.model, result.vantage, result.kind.value]
        self.probes.labels(*base, result.outcome.value).inc()
        for phase, seconds in result.phases.items():
            self.duration.labels(*base, phase.value).observe(seconds)
        if result.cost_usd:
            self.spend.labels(result.offering, result.provider).inc(float(result.cost_usd))
