"""Rolling windows over probe results: success ratio, latency percentiles, sample counts.

Pure: :func:`window_stats` takes finished results and a ``now`` and returns, per offering
and window (5 m, 30 m, 1 d, the windows OpenRouter publishes endpoint uptime for), what the
routing policies read. No clock, no I/O. :class:`WindowBook` gives the same numbers
incrementally (issue 18): results are added as they land and an evaluation costs a few
operations per offering and window plus the results that left a window since the last one,
not a walk over the day.

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
from collections import defaultdict
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


@dataclass(frozen=True, kw_only=True)
class _Point:
    at: float
    outcome: Outcome
    latency_s: float | None


def _points(results: Iterable[ResultLike], kinds: frozenset[Kind]) -> dict[str, list[_Point]]:
    by_offering: dict[str, list[_Point]] = defaultdict(list)
    for r in results:
        if r.cancelled or r.kind not in kinds:
            continue
        latency = r.phases.get(Phase.TOTAL) if r.outcome == Outcome.OK else None
        by_offering[r.offering].append(
            _Point(at=r.started_at.timestamp(), outcome=r.outcome, latency_s=latency)
        )
    for points in by_offering.values():
        points.sort(key=lambda p: p.at)
    return by_offering


def _stats(offering: str, window: Window, points: Sequence[_Point]) -> WindowStats:
    successes = errors = limited = filtered = 0
    latencies: list[float] = []
    for p in points:
        verdict = AVAILABILITY[p.outcome]
        if verdict == Verdict.SUCCESS:
            successes += 1
            if p.latency_s is not None:
                latencies.append(p.latency_s)
        elif verdict == Verdict.NEUTRAL:
            filtered += 1
        else:
            errors += 1
            limited += p.outcome == Outcome.RATE_LIMITED
    latencies.sort()
    return WindowStats(
        offering=offering,
        window=window.name,
        successes=successes,
        errors=errors,
        rate_limited=limited,
        content_filtered=filtered,
        p50_s=quantile(latencies, 0.50, presorted=True),
        p95_s=quantile(latencies, 0.95, presorted=True),
    )


def window_stats(
    results: Iterable[ResultLike],
    now: dt.datetime,
    *,
    windows: Sequence[Window] = WINDOWS,
    kinds: Iterable[Kind] = (Kind.GENERATE,),
    offerings: Iterable[str] = (),
) -> dict[str, dict[str, WindowStats]]:
    """Per offering, per window name: the stats of ``results`` started in the window.

    Only ``kinds`` count; the default is ``generate``, because a free ``control`` call says
    nothing about whether a generation would succeed or how long it takes. ``offerings``
    are included even without results (all counts zero), so callers see every configured
    offering. Results after ``now`` are ignored. Input order does not matter.
    """
    by_offering = _points(results, frozenset(kinds))
    end = now.timestamp()
    out: dict[str, dict[str, WindowStats]] = {}
    for offering in sorted({*by_offering, *offerings}):
        points = by_offering.get(offering, [])
        stamps = [p.at for p in points]
        hi = bisect.bisect_right(stamps, end)
        out[offering] = {}
        for window in windows:
            lo = bisect.bisect_right(stamps, end - window.seconds)
            out[offering][window.name] = _stats(offering, window, points[lo:hi])
    return out


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
    """:func:`window_stats` kept up to date as results land (issue 18).

    :meth:`add` costs a binary search and an insert; :meth:`stats` costs, per offering and
    window, the results that left the window since the previous call. The numbers are
    exactly :func:`window_stats`'s over the results added (same counts, same nearest-rank
    quantiles). ``now`` should not go back: points every window has left are forgotten, so
    after a step back the windows hold only what the book still keeps.
    """

    def __init__(
        self, *, windows: Sequence[Window] = WINDOWS, kinds: Iterable[Kind] = (Kind.GENERATE,)
    ) -> None:
        self.windows = tuple(windows)
        self.kinds = frozenset(kinds)
        self._tracks: dict[str, _Track] = {}
        self._end = -math.inf

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
        self, now: dt.datetime, *, offerings: Iterable[str] = ()
    ) -> dict[str, dict[str, WindowStats]]:
        """What :func:`window_stats` returns for the results added, at ``now``."""
        end = now.timestamp()
        if end < self._end:
            self._rewind()
        self._end = end
        out: dict[str, dict[str, WindowStats]] = {}
        for offering in sorted({*self._tracks, *offerings}):
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
        if track.at and track.at[-1] > end:  # results after now: rare, counted directly
            hi = bisect.bisect_right(track.at, end)
            return _stats(offering, window, [_point(track, i) for i in range(run.start, hi)])
        ok, neutral, error, limited = run.counts
        return WindowStats(
            offering=offering,
            window=window.name,
            successes=ok,
            errors=error + limited,
            rate_limited=limited,
            content_filtered=neutral,
            p50_s=quantile(run.latencies, 0.50, presorted=True),
            p95_s=quantile(run.latencies, 0.95, presorted=True),
        )

    def _rewind(self) -> None:
        """``now`` went back: every window counts again from the oldest point kept."""
        for track in self._tracks.values():
            track.runs = [_Running() for _ in self.windows]
            for run in track.runs:
                for k in range(len(track.at)):
                    run.enter(track.code[k], track.latency[k])


_OUTCOME_OF = {_OK: Outcome.OK, _NEUTRAL: Outcome.CONTENT_FILTERED, _ERROR: Outcome.SERVER_ERROR}
_OUTCOME_OF[_LIMITED] = Outcome.RATE_LIMITED


def _point(track: _Track, i: int) -> _Point:
    latency = track.latency[i]
    return _Point(
        at=track.at[i],
        outcome=_OUTCOME_OF[track.code[i]],
        latency_s=None if math.isnan(latency) else latency,
    )
