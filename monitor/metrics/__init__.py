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

Issue 18: how much is exported is the ``metrics:`` config's detail level (``_detail``;
README "Series budget"); a family's text is kept in blocks of series, each joined again
only when one of its series changed, and the scrape-time gauges are read behind the scrape
once reading them is no longer cheap (``_behind``), so a scrape is mostly a copy of
cached bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry

from monitor.config import Config
from monitor.config_sections import MetricsConfig
from monitor.interfaces import GaugeRow as GaugeRow
from monitor.interfaces import Kind, Phase, ProbeResult
from monitor.interfaces import StateRow as StateRow
from monitor.metrics._behind import ReadBehind
from monitor.metrics._detail import FULL, Detail, detail_of, series_per_offering
from monitor.metrics._gauges import GAUGES, _StateCollector
from monitor.metrics._text import (
    CONTENT_TYPE,
    DURATION_BUCKETS,
    PIECE_CHUNKS,
    _Family,
    _StoreCollector,
    pieces,
)

__all__ = [
    "CONTENT_TYPE",
    "DURATION_BUCKETS",
    "GAUGES",
    "PIECE_CHUNKS",
    "Detail",
    "GaugeRow",
    "Metrics",
    "StateRow",
    "pieces",
    "series_per_offering",
]

SKIP_REASONS = ("missed", "overlap", "budget", "no_price")
#: the scrape-time gauges are read at the scrape while that takes under 5 ms (tests, small
#: deployments), else behind it, at most a minute old (``metrics:`` overrides both)
INLINE_S = 0.005
MAX_AGE_S = 60.0


class Metrics:
    """provmon's metrics. ``config`` (the ``metrics:`` section) picks how much they say;
    without it, everything (detail ``full``). The service configures it from its config
    in :meth:`init_offerings`, before any result lands."""

    def __init__(
        self, registry: CollectorRegistry | None = None, config: MetricsConfig | None = None
    ) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.detail: Detail = FULL
        labels = ["offering", "provider", "model", "vantage", "kind"]
        self.duration = _Family(
            "provmon_probe_duration_seconds",
            "Time of each probe phase, as a client of the provider would wait",
            "histogram",
            [*labels, "phase"],
            buckets=DURATION_BUCKETS,
        )
        self.phases = _Family(
            "provmon_probe_phase_duration_seconds",
            "Time of each probe phase but the total, summed over the provider's offerings: "
            "where its time goes",
            "summary",
            ["provider", "vantage", "kind", "phase"],
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
            self.phases,
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
        self._gauges = ReadBehind(self._collector.render, INLINE_S, MAX_AGE_S)
        if config is not None:
            self.configure(config)

    def configure(self, config: MetricsConfig) -> None:
        """Export what ``config`` asks for (:mod:`monitor.metrics._detail`); before any
        series of the duration histogram exists."""
        detail = detail_of(config)
        buckets = {kind.value: detail.buckets[kind] or () for kind in Kind}
        kind_at = self.duration.labelnames.index("kind")
        self.duration.rebucket(DURATION_BUCKETS, lambda key: buckets[key[kind_at]])
        self.detail = self._collector.detail = detail
        self._collector.forget()
        self._gauges.forget()
        self._gauges.inline_s = config.gauges_inline_ms / 1000
        self._gauges.max_age_s = config.gauges_max_age_seconds

    def prime(self) -> None:
        """Read the scrape-time gauges now, so the first scrape sends their text rather
        than paying a first read (its label texts built from nothing: ~0.15 s of Python at
        1,000 offerings, issue 18). The service calls it before it schedules probes."""
        self._gauges.read()

    def render(self) -> bytes:
        """The text exposition of every provmon metric, in one piece, every gauge read
        now (tests, the CLI)."""
        return b"".join(self.render_chunks(current=True))

    def render_chunks(self, *, current: bool = False) -> list[bytes]:
        """The text exposition as the list of its cached texts (a series, a header, a
        scrape-time row), for ``/metrics`` to send with :func:`pieces`.

        The same families and samples as ``generate_latest(self.registry)`` (less the
        ``_created`` series), from cached series text plus the scrape-time gauges. The
        texts are immutable, so the list is a consistent snapshot; it is not joined here:
        at 1,000 offerings the exposition is ~24 MB, and a buffer that size (or the
        pieces of one, all alive at once) is fresh memory whose page faults cost more
        than the copying. :func:`pieces` joins a few at a time as the socket takes them.

        The scrape-time gauges are read now while that is cheap (or ``current``), else
        they are the last read's, at most a scrape interval old (:mod:`._behind`).
        """
        out: list[bytes] = []
        for family in self._families:
            family.chunks(out)
        out.extend(self._gauges.text(current=current))
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
        """Apply ``config.metrics``, then create label sets for configured offerings so
        their counters exist from the start (every outcome value, so that the first
        failure shows in ``increase()``; spend, price changes; at detail ``full`` every
        skip reason and the deadlines too)."""
        self.configure(config.metrics)
        detail = self.detail
        for offering in config.enabled_offerings():
            provider, model = config.provider_of(offering), config.model_of(offering)
            for kind in Kind:
                base = [offering, provider, model, config.vantage, kind.value]
                for outcome in detail.outcome_values(kind):
                    self.probes.labels(*base, outcome)
                if detail.timeouts:
                    self.timeout.labels(offering, kind.value).set(deadlines(offering, kind))
            self.spend.labels(offering, provider)
            self.served_model_changes.labels(offering)
            if detail.skip_series_at_start:
                for reason in SKIP_REASONS:
                    self.skipped.labels(offering, reason)
            for source in config.offerings[offering].pricing_sources:
                self.price_changes.labels(offering, source)

    def accept(self, result: ProbeResult) -> None:
        if result.cancelled:
            return
        detail = self.detail
        kind = result.kind
        base = [result.offering, result.provider, result.model, result.vantage, kind.value]
        self.probes.labels(*base, detail.outcome(kind, result.outcome)).inc()
        histogram = detail.buckets[kind] is not None
        per_provider = detail.phases != "none" and kind in detail.phase_kinds
        for phase, seconds in result.phases.items():
            if histogram and detail.phase_per_offering(phase):
                self.duration.labels(*base, phase.value).observe(seconds)
            if per_provider and phase is not Phase.TOTAL:
                where = (result.provider, result.vantage, kind.value, phase.value)
                self.phases.labels(*where).observe(seconds)
        if result.cost_usd:
            self.spend.labels(result.offering, result.provider).inc(float(result.cost_usd))
