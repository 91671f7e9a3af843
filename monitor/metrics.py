"""The one module that touches prometheus-client. Names follow DESIGN.md's table.

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

import bisect
import functools
import itertools
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar, cast

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.config import Config
from monitor.interfaces import Gauge, Kind, Outcome, ProbeResult, State
from monitor.interfaces import GaugeRow as GaugeRow
from monitor.interfaces import StateRow as StateRow

_T = TypeVar("_T")

#: Generations take seconds to minutes, so the buckets reach 300 s (client_python's stop at
#: 10 s). Fifteen bounds, not more: at 1,000 offerings every extra bound is ~9,000 series
#: more per scrape. Sub-second bounds resolve connect, ttfb and control probes; 60 is the
#: latency objective's bound (alert rules read ``le="60.0"``).
DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)

#: how many cached texts :func:`pieces` joins into one write: a histogram series is
#: ~2.5 kB, so a piece stays under ~160 kB
PIECE_CHUNKS = 64


def pieces(chunks: Sequence[bytes]) -> Iterator[bytes]:
    """``chunks`` joined ``PIECE_CHUNKS`` at a time: one piece alive at a time, so each
    reuses the memory the one before it freed."""
    for i in range(0, len(chunks), PIECE_CHUNKS):
        yield b"".join(chunks[i : i + PIECE_CHUNKS])


#: the media type `/metrics` answers with (what client_python's ``generate_latest`` is served as)
CONTENT_TYPE = CONTENT_TYPE_LATEST


def _go_float(value: float) -> str:
    """A sample value as client_python writes it (``utils.floatToGoString``): "1.0",
    "0.005", "+Inf", "1.5e+07"."""
    d = float(value)
    if d == math.inf:
        return "+Inf"
    if d == -math.inf:
        return "-Inf"
    if math.isnan(d):
        return "NaN"
    s = repr(d)
    dot = s.find(".")
    if d > 0 and dot > 6:  # Go switches to exponents sooner than Python
        mantissa = f"{s[0]}.{s[1:dot]}{s[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return s


def _escape_value(value: str) -> str:
    """A label value as the text format writes it (client_python's escaping)."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _label_text(pairs: Iterable[tuple[str, str]]) -> str:
    """``a="x",b="y"`` with names sorted, as ``generate_latest`` writes them."""
    return ",".join(f'{k}="{_escape_value(v)}"' for k, v in sorted(pairs))


def _header(name: str, documentation: str, kind: str) -> bytes:
    doc = documentation.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {name} {doc}\n# TYPE {name} {kind}\n".encode()


#: ``le`` values as client_python writes them ("0.005", "1.0", "+Inf")
def _bucket_bounds(buckets: Sequence[float]) -> tuple[tuple[float, ...], tuple[str, ...]]:
    bounds = tuple(float(b) for b in buckets)
    if bounds != tuple(sorted(bounds)) or len(set(bounds)) != len(bounds):
        raise ValueError("buckets must be strictly increasing")
    if bounds[-1] != math.inf:
        bounds = (*bounds, math.inf)
    return bounds, tuple(_go_float(b) for b in bounds)


#: whole numbers already written once (counts repeat endlessly): a dict lookup each
_NUMBER_TEXT: dict[float, bytes] = {}


def _number(value: float) -> bytes:
    text = _NUMBER_TEXT.get(value)
    if text is None:
        text = _go_float(value).encode()
        if len(_NUMBER_TEXT) < 100_000 and float(value).is_integer():
            _NUMBER_TEXT[value] = text
    return text


class _Child:
    """One label set of a family: its values and its exposition lines, rendered when the
    values change (a result lands), so a scrape only joins bytes."""

    __slots__ = ("_family", "_format", "_labels", "_values", "chunk")

    def __init__(self, family: _Family, labels: tuple[str, ...]) -> None:
        self._family = family
        self._labels = labels
        self._values: list[float] = [0.0] * family.slots
        self._format = family.label_texts(labels)
        self.chunk = family.render_child(self._format, self._values)

    def _changed(self) -> None:
        self.chunk = self._family.render_child(self._format, self._values)

    def inc(self, amount: float = 1.0) -> None:
        """Add ``amount`` (a counter's only move: never negative)."""
        if amount < 0 and self._family.kind == "counter":
            raise ValueError("counters can only be incremented by non-negative amounts")
        with self._family.lock:
            self._values[0] += amount
            self._changed()

    def set(self, value: float) -> None:
        """Set a gauge."""
        if self._family.kind != "gauge":
            raise TypeError(f"{self._family.name} is a {self._family.kind}, not a gauge")
        with self._family.lock:
            self._values[0] = float(value)
            self._changed()

    def observe(self, value: float) -> None:
        """Count one observation into the histogram's bucket, sum and count."""
        family = self._family
        if family.kind != "histogram":
            raise TypeError(f"{family.name} is a {family.kind}, not a histogram")
        index = bisect.bisect_left(family.bounds, value)  # first bucket with value <= le
        with family.lock:
            values = self._values
            values[index] += 1.0
            values[-2] += value
            values[-1] += 1.0
            self._changed()

    def samples(self) -> list[tuple[str, dict[str, str], float]]:
        return self._family.samples_of(self._labels, self._values)


class _Family:
    """A counter, gauge or histogram family whose series keep pre-rendered text.

    It offers the part of client_python's metric API provmon uses: ``labels(*values)``
    then ``inc``/``set``/``observe``, ``remove(*values)``, and ``inc`` on a family
    without labels.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        kind: str,
        labelnames: Sequence[str] = (),
        buckets: Sequence[float] = (),
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.kind = kind
        self.labelnames = tuple(labelnames)
        self.lock = threading.RLock()
        self.bounds: tuple[float, ...] = ()
        self.le: tuple[str, ...] = ()
        self.sample_name = f"{name}_total" if kind == "counter" else name
        if kind == "histogram":
            if "le" in self.labelnames:
                raise ValueError("a histogram cannot have an 'le' label")
            self.bounds, self.le = _bucket_bounds(buckets)
            self.slots = len(self.bounds) + 2  # buckets (not cumulative), sum, count
            # one %-template per family: labels before "le", labels after, the count
            template = "".join(f'{name}_bucket{{%sle="{le}"%s}} %s\n' for le in self.le)
            template += f"{name}_count%s %s\n{name}_sum%s %s\n"
        else:
            self.slots = 1
            template = f"{self.sample_name}%s %s\n"
        #: bytes with %s for the label texts and values (label values are arguments, so a
        #: "%" in one is data, never a directive)
        self.template = template.encode()
        self.header = _header(self.sample_name, documentation, kind)
        self._children: dict[tuple[str, ...], _Child] = {}
        if not self.labelnames:
            self.labels()

    def labels(self, *values: str) -> _Child:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {values}")
        key = tuple(str(v) for v in values)
        child = self._children.get(key)
        if child is None:
            with self.lock:
                child = self._children.get(key)
                if child is None:
                    child = self._children[key] = _Child(self, key)
        return child

    def remove(self, *values: str) -> None:
        with self.lock:
            self._children.pop(tuple(str(v) for v in values), None)

    def inc(self, amount: float = 1.0) -> None:
        """``inc`` on a family without labels."""
        self.labels().inc(amount)

    def label_texts(self, key: tuple[str, ...]) -> tuple[bytes, bytes, bytes]:
        """(labels before ``le`` with a trailing comma, after it with a leading comma,
        all of them in braces) for one label set, as ``generate_latest`` orders them."""
        pairs = list(zip(self.labelnames, key, strict=True))
        before = _label_text(p for p in pairs if p[0] < "le")
        after = _label_text(p for p in pairs if p[0] > "le")
        every = _label_text(pairs)
        return (
            f"{before},".encode() if before else b"",
            f",{after}".encode() if after else b"",
            f"{{{every}}}".encode() if every else b"",
        )

    def render_child(self, texts: tuple[bytes, bytes, bytes], values: list[float]) -> bytes:
        """One series' lines: ~8 us for a histogram's 24, a %-format of bytes."""
        before, after, every = texts
        if self.kind != "histogram":
            return self.template % (every, _number(values[0]))
        known = _NUMBER_TEXT.get
        counts = [known(c) or _number(c) for c in itertools.accumulate(values[:-2])]
        args = [before, after, b""] * len(counts)
        args[2::3] = counts
        args += (every, _number(values[-1]), every, _go_float(values[-2]).encode())
        return self.template % tuple(args)

    def samples_of(
        self, key: tuple[str, ...], values: list[float]
    ) -> list[tuple[str, dict[str, str], float]]:
        labels = dict(zip(self.labelnames, key, strict=True))
        if self.kind != "histogram":
            return [(self.sample_name, labels, values[0])]
        out = []
        cumulative = 0.0
        for le, count in zip(self.le, values, strict=False):
            cumulative += count
            out.append((f"{self.name}_bucket", {**labels, "le": le}, cumulative))
        out.append((f"{self.name}_count", labels, values[-1]))
        out.append((f"{self.name}_sum", labels, values[-2]))
        return out

    def chunks(self, out: list[bytes]) -> None:
        """Append the family's exposition (HELP, TYPE, every series) to ``out``."""
        out.append(self.header)
        with self.lock:
            out.extend([child.chunk for child in self._children.values()])

    def metric(self) -> Metric:
        """The family as a client_python :class:`Metric` (for ``generate_latest``)."""
        metric = Metric(self.name, self.documentation, self.kind)
        with self.lock:
            children = list(self._children.values())
        for child in children:
            for name, labels, value in child.samples():
                metric.add_sample(name, labels, value)
        return metric


class _StoreCollector(Collector):
    """Shows the store's families to the registry (``generate_latest``, ``get_sample_value``)."""

    def __init__(self, families: list[_Family]) -> None:
        self._families = families

    def describe(self) -> list[Metric]:
        return [Metric(f.name, f.documentation, f.kind) for f in self._families]

    def collect(self) -> Iterator[Metric]:
        for family in self._families:
            yield family.metric()


#: every scrape-time gauge's name and help text: the engines give a :class:`Gauge` and a
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
        self._families = [
            self.duration,
            self.probes,
            self.skipped,
            self.spend,
            self.timeout,
            self.price_changes,
            self.results_dropped,
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
