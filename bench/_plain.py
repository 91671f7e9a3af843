"""The metrics as plain client_python objects and ``generate_latest`` (what
``monitor/metrics`` was before issue 8), the reference :mod:`bench.metrics_render` compares
its renderer with."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.health import State
from monitor.interfaces import Phase, ProbeResult
from monitor.metrics import DURATION_BUCKETS, GAUGES, GaugeRow, Metrics, StateRow
from monitor.metrics._gauges import STATE_HELP


class World(Protocol):
    def states(self) -> Iterable[StateRow]: ...

    def gauges(self) -> Iterable[GaugeRow]: ...


class Plain:
    """The pre-issue-8 ``Metrics``: client_python objects in a registry, ``generate_latest``."""

    def __init__(self, metrics: Metrics) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ["offering", "provider", "model", "vantage", "kind"]
        self.duration = Histogram(
            metrics.duration.name,
            metrics.duration.documentation,
            [*labels, "phase"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.phases = Summary(
            metrics.phases.name,
            metrics.phases.documentation,
            ["provider", "vantage", "kind", "phase"],
            registry=self.registry,
        )
        self.probes = Counter(
            "provmon_probes",
            "Finished probes by outcome",
            [*labels, "outcome"],
            registry=self.registry,
        )
        self.spend = Counter(
            "provmon_probe_spend_usd",
            "Money spent on paid probes (listed price)",
            ["offering", "provider"],
            registry=self.registry,
        )
        self.skipped = Counter(
            "provmon_probes_skipped",
            "Probes not sent, by reason",
            ["offering", "reason"],
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
        Counter(
            "provmon_results_dropped", "Results that could not be stored", registry=self.registry
        )
        self.served_model_changes = Counter(
            "provmon_served_model_changes",
            "Answers naming another model than before or than asked for (silent redirects)",
            ["offering"],
            registry=self.registry,
        )

    def accept(self, result: ProbeResult) -> None:
        base = [result.offering, result.provider, result.model, result.vantage, result.kind.value]
        self.probes.labels(*base, result.outcome.value).inc()
        for phase, seconds in result.phases.items():
            self.duration.labels(*base, phase.value).observe(seconds)
            if phase is not Phase.TOTAL:
                where = (result.provider, result.vantage, result.kind.value, phase.value)
                self.phases.labels(*where).observe(seconds)
        if result.cost_usd:
            self.spend.labels(result.offering, result.provider).inc(float(result.cost_usd))


class PlainStates(Collector):
    """The scrape-time families as the pre-issue-8 collector yielded them."""

    def __init__(self, world: World) -> None:
        self.world = world

    def describe(self) -> list[Metric]:
        return [GaugeMetricFamily("provmon_offering_state", "state", labels=[])]

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "provmon_offering_state",
            STATE_HELP,
            labels=["offering", "provider", "model", "vantage", "state"],
        )
        for row in self.world.states():
            for state in State:
                family.add_metric(
                    [row.offering, row.provider, row.model, row.vantage, state.value],
                    1.0 if state == row.state else 0.0,
                )
        yield family
        families: dict[str, GaugeMetricFamily] = {}
        for gauge in self.world.gauges():
            name, help_text = GAUGES[gauge.name]
            fam = families.get(name)
            if fam is None:
                fam = families[name] = GaugeMetricFamily(name, help_text, labels=list(gauge.labels))
            fam.add_metric(list(gauge.labels.values()), gauge.value)
        yield from families.values()
