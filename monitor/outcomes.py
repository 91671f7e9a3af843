"""What an outcome counts as, one table per purpose, and the one quantile function.

Pure, no I/O. Two purposes ask different questions of the same outcome, so each has its
own table and every reader of that purpose uses it:

- :data:`HEALTH` (the health engine): *does the provider answer properly?* A safety block
  is a proper answer (success); a quota refusal (429) says nothing about the provider and
  never makes it down on its own (neutral).
- :data:`AVAILABILITY` (routing's windows, ``provmon_effective_cost_usd``, the status page,
  the benches): *would a request sent there have produced an image?* OpenRouter publishes
  uptime as successes ÷ (successes + errors). A 429 fails the request routed there (error;
  OpenRouter's own treatment of 429s is UNCONFIRMED); a content filter is the fixed, benign
  probe prompt being refused, which says more about the prompt than the provider (neutral).

Cancelled probes count for neither purpose (the monitor stopped them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from enum import StrEnum
from types import MappingProxyType

from monitor.interfaces import Outcome


class Verdict(StrEnum):
    SUCCESS = "success"
    #: neither success nor error: left out of ratios (counted on its own where shown)
    NEUTRAL = "neutral"
    ERROR = "error"


def _table(success: set[Outcome], neutral: set[Outcome]) -> Mapping[Outcome, Verdict]:
    return MappingProxyType(
        {
            o: Verdict.SUCCESS
            if o in success
            else Verdict.NEUTRAL
            if o in neutral
            else Verdict.ERROR
            for o in Outcome
        }
    )


HEALTH = _table({Outcome.OK, Outcome.CONTENT_FILTERED}, {Outcome.RATE_LIMITED})
AVAILABILITY = _table({Outcome.OK}, {Outcome.CONTENT_FILTERED})


def outcomes(table: Mapping[Outcome, Verdict], verdict: Verdict) -> frozenset[Outcome]:
    """The outcomes ``table`` gives ``verdict``."""
    return frozenset(o for o, v in table.items() if v == verdict)


def quantile(values: Sequence[float], q: float, *, presorted: bool = False) -> float | None:
    """The nearest-rank ``q`` quantile (0..1) of ``values``: a real sample, no
    interpolation (what llmperf and the benches report); None when empty. ``presorted``
    skips the sort for values already in ascending order."""
    if not values:
        return None
    ordered = values if presorted else sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]
