"""Rolling windows over probe results: success ratio, latency percentiles, sample counts.

Pure, no clock, no I/O. A :class:`WindowBook` is given finished results as they land and
returns, at a ``now``, per offering and window (5 m, 30 m, 1 d, the windows OpenRouter
publishes endpoint uptime for), what the routing policies read. It is incremental (issue
18): an evaluation costs a few operations per offering and window plus the results that
left a window since the last one, not a walk over the day. A caller holding only rows
builds one with :meth:`WindowBook.of`.

What counts is ``monitor.outcomes.AVAILABILITY`` (OpenRouter: uptime = successes ÷
(successes + errors)):

- success: ``ok``.
- error: every outcome in which a request sent there would not have produced an image:
  ``timeout``, ``connect_error``, ``server_error``, ``invalid_output``, ``protocol_error``,
  ``model_unavailable``, ``auth_error``, ``bad_request`` and **``rate_limited``**. OpenRouter's
  treatment of 429s is UNCONFIRMED; we count them because a request routed there fails
  (the health engine deliberately ignores 429s, so without this routing would not see a
  rate-limit storm at all). They are also counted on their own (``rate_limited``).
- neither: ``content_filtered``. The provider worked and refused the prompt; the probe's
  prompt is fixed and benign, so filtering says more about the prompt than the provider.
  Counted on its own (``content_filtered``) so a dashboard can still show it.
- ignored: cancelled probes (the monitor stopped them, the provider did nothing wrong).

Latency percentiles are over the ``total`` phase of successful results only (as llmperf
and OpenRouter do): a timeout's duration is the deadline, not the provider's speed.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from monitor.interfaces import Kind, Outcome, Phase
from monitor.outcomes import AVAILABILITY, Verdict, outcomes, quantile

#: outcomes that are neither success nor error (``monitor.outcomes.AVAILABILITY``)
NEUTRAL = outcomes(AVAILABILITY, Verdict.NEUTRAL)


@dataclass(frozen=True, kw_only=True)
class Window:
    """A trailing window ending at ``now``: ``(now - seconds, now]``."""

    name: str
    seconds: float


W5M = Window(name="5m", seconds=300.0)
W30M = Window(name="30m", seconds=1800.0)
W1D = Window(name="1d", seconds=86_400.0)
#: shortest first: policies read the shortest window that holds enough samples
WINDOWS: tuple[Window, ...] = (W5M, W30M, W1D)


class ResultLike(Protocol):
    """The fields of :class:`~monitor.interfaces.ProbeResult` the windows read."""

    @property
    def offering(self) -> str: ...
    @property
    def kind(self) -> Kind: ...
    @property
    def outcome(self) -> Outcome: ...
    @property
    def started_at(self) -> dt.datetime: ...
    @property
    def phases(self) -> Mapping[Phase, float]: ...
    @property
    def cancelled(self) -> bool: ...


@dataclass(frozen=True, kw_only=True)
class WindowStats:
    """One offering over one window. Ratios and percentiles are None without samples."""

    offering: str
    window: str
    successes: int = 0
    errors: int = 0
    rate_limited: int = 0
    content_filtered: int = 0
    p50_s: float | None = None
    p95_s: float | None = None

    @property
    def samples(self) -> int:
        """Results that count towards the success ratio (successes + errors)."""
        return self.successes + self.errors

    @property
    def success_ratio(self) -> float | None:
        """successes ÷ (successes + errors), or None when neither happened."""
        return self.successes / self.samples if self.samples else None


def pick_window(
    stats: Mapping[str, WindowStats],
    *,
    min_samples: int,
    windows: Sequence[Window] = WINDOWS,
) -> WindowStats | None:
    """The shortest window with at least ``min_samples`` samples, else the longest one that
    has any; None when no window has a sample.

    Short windows react fast but a single failure among five samples is noise; routing
    reads the shortest window that holds enough evidence.
    """
    present = [stats[w.name] for w in windows if w.name in stats]
    for entry in present:
        if entry.samples >= min_samples:
            return entry
    with_any = [entry for entry in present if entry.samples]
    return with_any[-1] if with_any else None


# -- incremental windows -----------------------------------------------------------------

#: a point's class: success, neutral, error, error that was a 429
_OK, _NEUTRAL, _ERROR, _LIMITED = range(4)


def _code(outcome: Outcome) -> int:
    verdict = AVAILABILITY[outcome]
    if verdict == Verdict.SUCCESS:
        return _OK
    if verdict == Verdict.NEUTRAL:
        return _NEUTRAL
    return _LIMITED if outcome == Outcome.RATE_LIMITED else _ERROR


class _Running:
    """One window's running totals over the points from index ``start`` on."""

    __slots__ = ("counts", "latencies", "start")

    def __init__(self) -> None:
        self.start = 0
        self.counts = [0, 0, 0, 0]
        #: latencies of the successes in the window, ascending
        self.latencies: list[float] = []

    def enter(self, code: int, latency: float) -> None:
        self.counts[code] += 1
        if not math.isnan(latency):
            bisect.insort(self.latencies, latency)

    def leave(self, code: int, latency: float) -> None:
        self.counts[code] -= 1
        if not math.isnan(latency):
            del self.latencies[bisect.bisect_left(self.latencies, latency)]


class _Track:
    """One offering's points in time order (compact arrays) and a running total per window.
    A latency is NaN for a point without one."""

    __slots__ = ("at", "code", "latency", "runs")

    def __init__(self, windows: int) -> None:
        self.at = array("d")
        self.latency = array("d")
        self.code = bytearray()
        self.runs = [_Running() for _ in range(windows)]

    def add(self, at: float, code: int, latency: float) -> None:
        pos = bisect.bisect_right(self.at, at)
        self.at.insert(pos, at)
        self.latency.insert(pos, latency)
        self.code.insert(pos, code)
        for run in self.runs:
            if pos < run.start:  # older than what already left this window
                run.start += 1
            else:
                run.enter(code, latency)

    def advance(self, run: _Running, cut: float) -> None:
        """Points at or before ``cut`` leave ``run``'s window."""
        at, n = self.at, len(self.at)
        while run.start < n and at[run.start] <= cut:
            run.leave(self.code[run.start], self.latency[run.start])
            run.start += 1

    def compact(self) -> None:
        """Forget the points every window has left (the longest one's start)."""
        drop = min(run.start for run in self.runs)
        if drop > 256 and drop * 2 > len(self.at):
            del self.at[:drop], self.latency[:drop], self.code[:drop]
            for run in self.runs:
                run.start -= drop


class WindowBook:
    """Routing's windows, kept up to date as results land (issue 18).

    :meth:`add` costs a binary search and an insert; :meth:`stats` costs, per offering and
    window, the results that left the window since the previous call. The numbers are those
    of the results added in each window, whatever the order they were added in: exact
    counts and nearest-rank quantiles (``monitor.outcomes.quantile``). ``now`` should not
    go back: points every window has left are forgotten, so after a step back the windows
    hold only what the book still keeps.
    """

    def __init__(
        self, *, windows: Sequence[Window] = WINDOWS, kinds: Iterable[Kind] = (Kind.GENERATE,)
    ) -> None:
        self.windows = tuple(windows)
        self.kinds = frozenset(kinds)
        self._tracks: dict[str, _Track] = {}
        self._end = -math.inf

    @classmethod
    def of(
        cls,
        results: Iterable[ResultLike],
        *,
        windows: Sequence[Window] = WINDOWS,
        kinds: Iterable[Kind] = (Kind.GENERATE,),
    ) -> WindowBook:
        """A book holding ``results`` (any order): for a caller that has rows, not a feed."""
        book = cls(windows=windows, kinds=kinds)
        for result in results:
            book.add(result)
        return book

    def add(self, result: ResultLike) -> None:
        """Count one finished result (ignored when cancelled or of another kind)."""
        if result.cancelled or result.kind not in self.kinds:
            return
        track = self._tracks.get(result.offering)
        if track is None:
            track = self._tracks[result.offering] = _Track(len(self.windows))
        latency = result.phases.get(Phase.TOTAL) if result.outcome == Outcome.OK else None
        code = _code(result.outcome)
        track.add(result.started_at.timestamp(), code, math.nan if latency is None else latency)

    def stats(
        self, now: dt.datetime, *, offerings: Iterable[str] = (), only: bool = False
    ) -> dict[str, dict[str, WindowStats]]:
        """Per offering, per window name: the stats of the results added that started in
        the window ``(now - seconds, now]``.

        Only the book's ``kinds`` count; the default is ``generate``, because a free
        ``control`` call says nothing about whether a generation would succeed or how long
        it takes. ``offerings`` are included even without results (all counts zero), so
        callers see every configured offering; with ``only``, just those (a caller reading
        the book in parts). Results after ``now`` are left out.
        """
        end = now.timestamp()
        if end < self._end:
            self._rewind()
        self._end = end
        out: dict[str, dict[str, WindowStats]] = {}
        for offering in sorted({*offerings} if only else {*self._tracks, *offerings}):
            track = self._tracks.get(offering)
            if track is None:
                out[offering] = {
                    w.name: WindowStats(offering=offering, window=w.name) for w in self.windows
                }
                continue
            out[offering] = {
                w.name: self._read(offering, track, w, run, end)
                for w, run in zip(self.windows, track.runs, strict=True)
            }
            track.compact()
        return out

    def _read(
        self, offering: str, track: _Track, window: Window, run: _Running, end: float
    ) -> WindowStats:
        track.advance(run, end - window.seconds)
        counts, latencies = run.counts, run.latencies
        if track.at and track.at[-1] > end:  # results after now: rare, counted directly
            counts, latencies = [0, 0, 0, 0], []
            for i in range(run.start, bisect.bisect_right(track.at, end)):
                counts[track.code[i]] += 1
                if not math.isnan(track.latency[i]):
                    latencies.append(track.latency[i])
            latencies.sort()
        ok, neutral, error, limited = counts
        return WindowStats(
            offering=offering,
            window=window.name,
            successes=ok,
            errors=error + limited,
            rate_limited=limited,
            content_filtered=neutral,
            p50_s=quantile(latencies, 0.50, presorted=True),
            p95_s=quantile(latencies, 0.95, presorted=True),
        )

    def _rewind(self) -> None:
        """``now`` went back: every window counts again from the oldest point kept."""
        for track in self._tracks.values():
            track.runs = [_Running() for _ in self.windows]
            for run in track.runs:
                for k in range(len(track.at)):
                    run.enter(track.code[k], track.latency[k])
