"""Rolling windows over probe results: success ratio, latency percentiles, sample counts.

Pure: :func:`window_stats` takes finished results and a ``now`` and returns, per offering
and window (5 m, 30 m, 1 d, the windows OpenRouter publishes endpoint uptime for), what the
routing policies read. No clock, no I/O; the live service and the backtest call the same
function.

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
