"""The exposition text of the result-driven families: per label set, the values and their
cached sample lines (see the package docstring), and :func:`pieces` for sending them."""

from __future__ import annotations

import bisect
import itertools
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence

from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

#: Generations take seconds to minutes, so the buckets reach 300 s (client_python's stop at
#: 10 s). Fifteen bounds, not more: at 1,000 offerings every extra bound is ~9,000 series
#: more per scrape. Sub-second bounds resolve connect, ttfb and control probes; 60 is the
#: latency objective's bound (alert rules read ``le="60.0"``).
DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)

#: how many cached texts :func:`pieces` joins into one write: a family's block of series
#: (:data:`BLOCK`) or a group of gauge lines is 4-10 kB, so a piece stays under ~320 kB
PIECE_CHUNKS = 32
#: series per cached block of a family's text, by family type (~4-10 kB a block): a
#: scrape copies blocks, and a result rejoins only its series' block
BLOCK = {"histogram": 4, "summary": 16, "counter": 32, "gauge": 32}


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

    __slots__ = ("_family", "_format", "_labels", "_layout", "_values", "chunk", "index")

    def __init__(self, family: _Family, labels: tuple[str, ...], index: int) -> None:
        self._family = family
        self.index = index
        self._labels = labels
        self._layout = family.layout_of(labels)
        self._values: list[float] = [0.0] * self._layout.slots
        self._format = family.label_texts(labels)
        self.chunk = family.render_child(self._layout, self._format, self._values)

    def _changed(self) -> None:
        family = self._family
        self.chunk = family._texts[self.index] = family.render_child(
            self._layout, self._format, self._values
        )
        family._joined[self.index // family._block] = None
        family.dirty = True

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
        if family.kind not in ("histogram", "summary"):
            raise TypeError(f"{family.name} is a {family.kind}, not a histogram")
        bounds = self._layout.bounds
        with family.lock:
            values = self._values
            if bounds:
                values[bisect.bisect_left(bounds, value)] += 1.0  # first bucket: value <= le
            values[-2] += value
            values[-1] += 1.0
            self._changed()

    def samples(self) -> list[tuple[str, dict[str, str], float]]:
        return self._family.samples_of(self._layout, self._labels, self._values)


class _Layout:
    """A series' sample lines as one %-template: a histogram's bounds and ``le`` texts, or
    a counter's or gauge's single line."""

    __slots__ = ("bounds", "le", "slots", "template")

    def __init__(self, name: str, sample_name: str, buckets: Sequence[float] | None) -> None:
        self.bounds: tuple[float, ...] = ()
        self.le: tuple[str, ...] = ()
        if buckets is None:
            self.slots = 1
            template = f"{sample_name}%s %s\n"
        elif not buckets:  # a summary without quantiles: sum, count
            self.slots = 2
            template = f"{name}_count%s %s\n{name}_sum%s %s\n"
        else:
            self.bounds, self.le = _bucket_bounds(buckets)
            self.slots = len(self.bounds) + 2  # buckets (not cumulative), sum, count
            # labels before "le", labels after, the count
            template = "".join(f'{name}_bucket{{%sle="{le}"%s}} %s\n' for le in self.le)
            template += f"{name}_count%s %s\n{name}_sum%s %s\n"
        #: bytes with %s for the label texts and values (label values are arguments, so a
        #: "%" in one is data, never a directive)
        self.template = template.encode()


class _Family:
    """A counter, gauge or histogram family whose series keep pre-rendered text.

    It offers the part of client_python's metric API provmon uses: ``labels(*values)``
    then ``inc``/``set``/``observe``, ``remove(*values)``, and ``inc`` on a family
    without labels. A histogram's buckets may differ by label set (``buckets_of``: the
    duration histogram's per probe kind); queries that mix them mix kinds, which no
    latency question does.

    The family keeps the list of its series' texts in creation order, each replaced
    where it stands when that series changes, so a scrape copies one list.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        kind: str,
        labelnames: Sequence[str] = (),
        buckets: Sequence[float] = (),
        buckets_of: Callable[[tuple[str, ...]], Sequence[float]] | None = None,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.kind = kind
        self.labelnames = tuple(labelnames)
        self.lock = threading.RLock()
        self.sample_name = f"{name}_total" if kind == "counter" else name
        if kind == "histogram" and "le" in self.labelnames:
            raise ValueError("a histogram cannot have an 'le' label")
        self._buckets = tuple(buckets)
        self._buckets_of = buckets_of
        self._layouts: dict[tuple[float, ...] | None, _Layout] = {}
        self.header = _header(self.sample_name, documentation, kind)
        self._children: dict[tuple[str, ...], _Child] = {}
        self._texts: list[bytes] = []
        #: the texts joined :data:`BLOCK` series at a time; None: to join again
        self._block = BLOCK[kind]
        self._joined: list[bytes | None] = []
        #: set when a series changed since :meth:`chunks` last ran (for callers' caches)
        self.dirty = True
        if not self.labelnames:
            self.labels()

    def rebucket(
        self,
        buckets: Sequence[float],
        buckets_of: Callable[[tuple[str, ...]], Sequence[float]] | None = None,
    ) -> None:
        """New buckets for series created from now on; only before any exists."""
        with self.lock:
            if self._children:
                raise RuntimeError(f"{self.name} already has series: set buckets first")
            self._buckets, self._buckets_of = tuple(buckets), buckets_of
            self._layouts.clear()

    def layout_of(self, key: tuple[str, ...]) -> _Layout:
        bounds: tuple[float, ...] | None = None
        if self.kind == "histogram":
            bounds = tuple(self._buckets_of(key) if self._buckets_of else self._buckets)
        elif self.kind == "summary":
            bounds = ()
        layout = self._layouts.get(bounds)
        if layout is None:
            layout = self._layouts[bounds] = _Layout(self.name, self.sample_name, bounds)
        return layout

    def labels(self, *values: str) -> _Child:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {values}")
        key = tuple(str(v) for v in values)
        child = self._children.get(key)
        if child is None:
            with self.lock:
                child = self._children.get(key)
                if child is None:
                    child = self._children[key] = _Child(self, key, len(self._texts))
                    self._texts.append(child.chunk)
                    if child.index % self._block == 0:
                        self._joined.append(None)
                    else:
                        self._joined[-1] = None
                    self.dirty = True
        return child

    def remove(self, *values: str) -> None:
        with self.lock:
            if self._children.pop(tuple(str(v) for v in values), None) is not None:
                for index, child in enumerate(self._children.values()):
                    child.index = index
                self._texts = [child.chunk for child in self._children.values()]
                self._joined = [None] * -(-len(self._texts) // self._block)
                self.dirty = True

    def inc(self, amount: float = 1.0) -> None:
        """``inc`` on a family without labels."""
        self.labels().inc(amount)

    def __len__(self) -> int:
        return len(self._children)

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

    def render_child(
        self, layout: _Layout, texts: tuple[bytes, bytes, bytes], values: list[float]
    ) -> bytes:
        """One series' lines: ~8 us for a histogram's 24, a %-format of bytes."""
        before, after, every = texts
        if self.kind == "summary":
            return layout.template % (
                every,
                _number(values[-1]),
                every,
                _go_float(values[-2]).encode(),
            )
        if self.kind != "histogram":
            return layout.template % (every, _number(values[0]))
        known = _NUMBER_TEXT.get
        counts = [known(c) or _number(c) for c in itertools.accumulate(values[:-2])]
        args = [before, after, b""] * len(counts)
        args[2::3] = counts
        args += (every, _number(values[-1]), every, _go_float(values[-2]).encode())
        return layout.template % tuple(args)

    def samples_of(
        self, layout: _Layout, key: tuple[str, ...], values: list[float]
    ) -> list[tuple[str, dict[str, str], float]]:
        labels = dict(zip(self.labelnames, key, strict=True))
        if self.kind not in ("histogram", "summary"):
            return [(self.sample_name, labels, values[0])]
        out = []
        cumulative = 0.0
        for le, count in zip(layout.le, values, strict=False):
            cumulative += count
            out.append((f"{self.name}_bucket", {**labels, "le": le}, cumulative))
        out.append((f"{self.name}_count", labels, values[-1]))
        out.append((f"{self.name}_sum", labels, values[-2]))
        return out

    def chunks(self, out: list[bytes]) -> None:
        """Append the family's exposition (HELP, TYPE, every series) to ``out``: a copy
        of the list of series texts, kept current as series change."""
        out.append(self.header)
        with self.lock:
            joined, texts, block = self._joined, self._texts, self._block
            for i, text in enumerate(joined):
                if text is None:
                    joined[i] = b"".join(texts[i * block : (i + 1) * block])
            out.extend(joined)  # type: ignore[arg-type]  # every block joined just now
            self.dirty = False

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
