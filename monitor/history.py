"""Hourly rollups of probe results: what is kept of them once raw results are pruned.

Pure, no I/O (the store reads and writes them, ``monitor/store/_history.py``). A
:class:`Tally` is one offering's results of one kind over some period: counts by outcome
class, the money spent, and a latency histogram. Tallies merge by addition, so an hour's
rollup, a day or thirty days of them and the raw results not rolled up yet add up to the
same numbers the raw results would give.

Counts keep enough to apply either table of ``monitor.outcomes``: ``ok``,
``content_filtered``, ``rate_limited`` and every other error apart. Latency, as routing's
windows read it, is the ``total`` phase of ``ok`` results; the histogram's buckets grow by
:data:`RATIO`, so a quantile read from it is within :data:`QUANTILE_ERROR` (relative) of the
exact nearest-rank quantile of the same results, for latencies between :data:`LOW` and
:data:`HIGH` seconds (outside, they count in the first or last bucket).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from monitor.interfaces import Outcome
from monitor.outcomes import AVAILABILITY, Verdict

# the counts below assume routing's table: only ok succeeds, only a content filter is neutral
assert {o for o, v in AVAILABILITY.items() if v != Verdict.ERROR} == {
    Outcome.OK,
    Outcome.CONTENT_FILTERED,
}

#: the histogram's first bucket starts here, seconds
LOW = 0.01
#: and its last ends here, seconds (past every probe's deadline)
HIGH = 3600.0
#: each bucket is this much wider than the previous one
RATIO = 1.05
BUCKETS = math.ceil(math.log(HIGH / LOW) / math.log(RATIO))
#: a quantile read from the histogram is within this fraction of the exact one
QUANTILE_ERROR = math.sqrt(RATIO) - 1
#: bits per bucket in the packed histogram (a count may reach 4 billion)
_LANE = 32
_LOG_RATIO = math.log(RATIO)


def bucket_of(seconds: float) -> int:
    """The histogram bucket of a latency."""
    if seconds <= LOW:
        return 0
    return min(BUCKETS - 1, int(math.log(seconds / LOW) / _LOG_RATIO))


def bucket_value(index: int) -> float:
    """What a bucket reports: the geometric middle of its bounds."""
    return float(LOW * RATIO ** (index + 0.5))


def pack(histogram: int) -> bytes:
    """A packed histogram (one integer, a 32-bit lane per bucket, bucket 0 lowest) as bytes:
    the first used lane's index (2 bytes) and the lanes from there, little-endian."""
    if histogram == 0:
        return b""
    skip = ((histogram & -histogram).bit_length() - 1) // _LANE
    body = histogram >> (skip * _LANE)
    return skip.to_bytes(2, "little") + body.to_bytes((body.bit_length() + 7) // 8, "little")


def unpack(data: bytes | None) -> int:
    """The integer :func:`pack` was given; adding two of them merges the histograms."""
    if not data:
        return 0
    return int.from_bytes(data[2:], "little") << (int.from_bytes(data[:2], "little") * _LANE)


def counts(histogram: int) -> list[int]:
    """Per bucket, the count a packed histogram holds."""
    mask = (1 << _LANE) - 1
    return [(histogram >> (i * _LANE)) & mask for i in range(BUCKETS)]


@dataclass(kw_only=True)
class Tally:
    """One offering's results of one kind over a period. Merges by :meth:`merge`."""

    ok: int = 0
    content_filtered: int = 0
    rate_limited: int = 0
    #: every other error (``monitor.outcomes.AVAILABILITY`` errors but 429s)
    errors: int = 0
    cancelled: int = 0
    cost_micro_usd: int = 0
    #: latencies of ``ok`` results with a total, packed (see :func:`pack`)
    histogram: int = 0

    def add(
        self, outcome: Outcome, total_s: float | None, cost_micro_usd: int, cancelled: bool
    ) -> None:
        """Count one raw result."""
        self.cost_micro_usd += cost_micro_usd
        if cancelled:
            self.cancelled += 1
        elif outcome == Outcome.OK:
            self.ok += 1
            if total_s is not None:
                self.histogram += 1 << (bucket_of(total_s) * _LANE)
        elif outcome == Outcome.CONTENT_FILTERED:
            self.content_filtered += 1
        elif outcome == Outcome.RATE_LIMITED:
            self.rate_limited += 1
        else:
            self.errors += 1

    def merge(self, other: Tally) -> None:
        self.ok += other.ok
        self.content_filtered += other.content_filtered
        self.rate_limited += other.rate_limited
        self.errors += other.errors
        self.cancelled += other.cancelled
        self.cost_micro_usd += other.cost_micro_usd
        self.histogram += other.histogram

    @property
    def results(self) -> int:
        """Every result counted, cancelled ones too."""
        return self.ok + self.content_filtered + self.rate_limited + self.errors + self.cancelled

    @property
    def success_ratio(self) -> float | None:
        """Routing's: successes ÷ (successes + errors), ``monitor.outcomes.AVAILABILITY``."""
        samples = self.ok + self.rate_limited + self.errors
        return self.ok / samples if samples else None

    def quantile(self, q: float) -> float | None:
        """The nearest-rank ``q`` quantile of the ``ok`` latencies, from the histogram
        (within :data:`QUANTILE_ERROR` of the exact one); None without latencies."""
        per_bucket = counts(self.histogram)
        n = sum(per_bucket)
        if not n:
            return None
        rank, seen = max(1, math.ceil(q * n)), 0
        for index, count in enumerate(per_bucket):
            seen += count
            if seen >= rank:
                return bucket_value(index)
        raise AssertionError("unreachable: the ranks add up to n")

    def effective_cost(self, price_usd: Decimal | None) -> Decimal | None:
        """Routing's effective cost: listed price ÷ success ratio (``monitor.routing``)."""
        from monitor.routing import effective_cost

        return effective_cost(price_usd, self.success_ratio)


#: a rollup's key: offering, vantage, kind, hour (UTC, on the hour)
RollupKey = tuple[str, str, str, dt.datetime]


def hour_of(at: dt.datetime) -> dt.datetime:
    """The UTC hour ``at`` falls in."""
    return at.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def merged(tallies: Mapping[RollupKey, Tally]) -> dict[tuple[str, str], Tally]:
    """Rollups added up per (offering, kind), every vantage and hour together."""
    out: dict[tuple[str, str], Tally] = {}
    for (offering, _vantage, kind, _hour), tally in tallies.items():
        out.setdefault((offering, kind), Tally()).merge(tally)
    return out
