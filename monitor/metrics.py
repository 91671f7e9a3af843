"""The one module that touches prometheus-client. Names follow DESIGN.md's table.

Counters and the duration histogram are updated as results land (:meth:`Metrics.accept`).
State (offering state, prices, budget, routes) is read at scrape time by a custom
collector from the engines' in-memory state, never by a SQL query per scrape. The registry
is built by the caller and injected, never the global one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.config import Config
from monitor.health import State
from monitor.interfaces import Kind, Outcome, ProbeResult

#: generations take seconds to minutes: buckets reach 300 s (client_python's stop at 10 s)
DURATION_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    15,
    20,
    30,
    45,
    60,
    90,
    120,
    180,
    240,
    300,
)


@dataclass(frozen=True, kw_only=True)
class StateRow:
    offering: str
    provider: str
    model: str
    vantage: str
    state: State


@dataclass(frozen=True, kw_only=True)
class GaugeRow:
    """One sample of a state gauge read at scrape time."""

    name: str
    labels: dict[str, str]
    value: float


class _StateCollector(Collector):
    def __init__(
        self,
        states: Callable[[], Iterable[StateRow]],
        extra: list[Callable[[], Iterable[GaugeRow]]],
        help_texts: dict[str, str],
    ) -> None:
        self._states = states
        self._extra = extra
        self._help = help_texts

    def describe(self) -> list[Metric]:
        # describing without collecting: registration must not read engine state
        return [GaugeMetricFamily("provmon_offering_state", "state", labels=[])]

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "provmon_offering_state",
            "1 for the offering's current health state, 0 for the others",
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
                fam = families.get(gauge.name)
                if fam is None:
                    fam = GaugeMetricFamily(
                        gauge.name,
                        self._help.get(gauge.name, gauge.name),
                        labels=list(gauge.labels),
                    )
                    families[gauge.name] = fam
                fam.add_metric(list(gauge.labels.values()), gauge.value)
        yield from families.values()


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        labels = ["offering", "provider", "model", "vantage", "kind"]
        self.duration = Histogram(
            "provmon_probe_duration_seconds",
            "Time of each probe phase, as a client of the provider would wait",
            [*labels, "phase"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.probes = Counter(
            "provmon_probes",
            "Finished probes by outcome",
            [*labels, "outcome"],
            registry=self.registry,
        )
        self.skipped = Counter(
            "provmon_probes_skipped",
            "Probes not sent, by reason",
            ["offering", "reason"],
            registry=self.registry,
        )
        self.spend = Counter(
            "provmon_probe_spend_usd",
            "Money spent on paid probes (listed price)",
            ["offering", "provider"],
            registry=self.registry,
        )
        self.timeout = Gauge(
            "provmon_probe_timeout_seconds",
            "The deadline each probe kind runs under",
            ["offering", "kind"],
            registry=self.registry,
        )
        self.price_changes = Counter(
            "provmon_price_changes",
            "Listed price changes and removals seen by a pricing source",
            ["offering", "source"],
            registry=self.registry,
        )
        self.results_dropped = Counter(
            "provmon_results_dropped",
            "Results that could not be stored",
            registry=self.registry,
        )
        self._extra: list[Callable[[], Iterable[GaugeRow]]] = []
        self._help: dict[str, str] = {}
        self._states: Callable[[], Iterable[StateRow]] = lambda: ()
        self.registry.register(_StateCollector(lambda: self._states(), self._extra, self._help))

    def watch_states(self, source: Callable[[], Iterable[StateRow]]) -> None:
        self._states = source

    def add_gauges(self, source: Callable[[], Iterable[GaugeRow]], helps: dict[str, str]) -> None:
        """Add scrape-time gauges (prices, budget, routes) computed by ``source``."""
        self._extra.append(source)
        self._help.update(helps)

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
