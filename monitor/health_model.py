"""The health engine's values: tiers, policy, samples and states (no logic).

Kept apart from :mod:`monitor.health` (the state machine) so the incident events and the
passive-sample rules can name them without importing the machine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from monitor.interfaces import Outcome
from monitor.interfaces import State as State  # re-exported: decided here
from monitor.outcomes import HEALTH, Verdict, outcomes


class Tier(StrEnum):
    CONTROL = "control"
    GENERATE = "generate"


#: outcomes that say nothing about the provider's health (``monitor.outcomes.HEALTH``)
NEUTRAL = outcomes(HEALTH, Verdict.NEUTRAL)
#: outcomes that prove the provider answered properly (a safety block is a proper answer)
HEALTHY = outcomes(HEALTH, Verdict.SUCCESS)
#: severity for combining tiers and vantages; unknown is "no evidence", never a vote
SEVERITY = {State.UNKNOWN: 0, State.UP: 1, State.DEGRADED: 2, State.DOWN: 3, State.RETIRED: 4}
#: states an incident is opened for
BAD = frozenset({State.DEGRADED, State.DOWN, State.RETIRED})


@dataclass(frozen=True, kw_only=True)
class HealthPolicy:
    """Thresholds, applied to each tier separately.

    ``fail_threshold`` is 4 rather than Gatus' 3 because control failures are confirmed
    within a second: with 2% independent errors and a probe every 30 s, three failures in a
    row happen about once in six weeks, four about once in 300 (bench/detection.py).
    """

    fail_threshold: int = 4
    recover_threshold: int = 2
    #: consecutive ``model_unavailable`` answers that make a tier ``retired``
    retire_threshold: int = 2
    window: int = 20
    #: samples older than this (seconds) leave the error-ratio window too: after an
    #: outage the ratio forgets it in minutes, not after ``window`` more samples
    window_s: float | None = 600.0
    min_samples: int = 5
    down_error_ratio: float = 0.5
    degraded_error_ratio: float = 0.25
    #: the ``latency_quantile`` of the last ``latency_window`` healthy samples above this
    #: (seconds) makes the tier degraded; the median of few samples, since paid probes are
    #: sparse and one slow image must not page anyone
    latency_objective_s: float | None = None
    latency_window: int = 5
    latency_min_samples: int = 3
    latency_quantile: float = 0.5
    #: fast answers in a row that end a slowdown: one, since each paid probe is costly and
    #: a 6x slowdown answers under the objective by chance about once in 30 (issue 17)
    latency_recover_samples: int = 1
    #: a generate answer is slow too when over this many times the offering's own usual
    #: latency (and over it by ``latency_baseline_margin_s``): a slowdown is seen without
    #: a configured objective. The usual latency is a moving average of the answers that
    #: were not slow, known after ``latency_baseline_samples`` of them (None: off)
    latency_baseline_factor: float | None = 2.5
    latency_baseline_margin_s: float = 10.0
    latency_baseline_samples: int = 5
    #: passive failures alone make the generate tier down only at this many distinct
    #: minutes, spread over at least ``passive_down_span_s`` (see :func:`step_passive`)
    passive_down_minutes: int = 3
    passive_down_span_s: float = 120.0


@dataclass(frozen=True, kw_only=True)
class Sample:
    """One observation. ``kind`` is ``control``, ``generate`` (a paid probe) or ``passive``
    (a gateway's real traffic, judged with the generate tier)."""

    outcome: Outcome
    at: dt.datetime
    latency_s: float | None = None
    kind: str = "generate"


@dataclass(frozen=True, kw_only=True)
class TierState:
    state: State = State.UNKNOWN
    reason: str = "no probe yet"
    failures: int = 0
    successes: int = 0
    unavailable: int = 0
    #: healthy? flags of the recent samples, oldest first, at most ``policy.window``
    recent: tuple[bool, ...] = ()
    #: when each of ``recent`` was sampled (same order)
    recent_at: tuple[dt.datetime, ...] = ()
    #: latencies of the recent healthy samples, at most ``policy.latency_window``
    latencies: tuple[float, ...] = ()
    #: which of ``latencies`` were slow (over the objective or the usual latency)
    slow: tuple[bool, ...] = ()
    #: the usual latency of this tier's answers that were not slow, and how many made it
    usual_s: float | None = None
    usual_n: int = 0
    last_at: dt.datetime | None = None
    #: the last sample failed, or was healthy but over the latency objective
    suspect: bool = False
    #: slow (degraded) until this sample, which was fast: one more proves the end
    recovering: bool = False


@dataclass(frozen=True, kw_only=True)
class HealthState:
    state: State = State.UNKNOWN
    since: dt.datetime | None = None
    reason: str = "no probe yet"
    #: over both tiers, for display; the tiers' own streaks decide
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    consecutive_rate_limited: int = 0
    last_outcome: Outcome | None = None
    control: TierState = field(default_factory=TierState)
    generate: TierState = field(default_factory=TierState)
    last_control_at: dt.datetime | None = None
    last_paid_at: dt.datetime | None = None
    last_passive_at: dt.datetime | None = None
    #: distinct minutes (epoch // 60) of passive failures since the last healthy sample
    passive_failed_minutes: tuple[int, ...] = ()
    #: passive failures no paid probe has confirmed or refuted yet: confirm now
    passive_suspect: bool = False
    #: the generate tier is down on passive evidence alone (one successful probe refutes it)
    passive_down: bool = False
    #: the minute of the last passive success counted (one per minute, like failures)
    passive_ok_minute: int | None = None
    #: our account is at fault (the last probe answer was ``auth_error``: key, billing,
    #: quota or permission); a healthy answer clears it. Ours to fix, not an outage
    account_problem: bool = False

    def tier(self, tier: Tier) -> TierState:
        return self.control if tier == Tier.CONTROL else self.generate


def combine(states: Iterable[State], quorum: int) -> State:
    """One state from several vantages: the worst state at least ``quorum`` of them agree
    on (counting worse states as agreeing). Vantages without evidence (``unknown``) do not
    vote; the quorum shrinks to the number of voters so one agent alone still decides."""
    votes = [s for s in states if s != State.UNKNOWN]
    if not votes:
        return State.UNKNOWN
    need = max(1, min(quorum, len(votes)))
    if sum(1 for s in votes if s == State.RETIRED) >= need:
        return State.RETIRED
    for candidate in (State.DOWN, State.DEGRADED):
        at_least = sum(1 for s in votes if SEVERITY[s] >= SEVERITY[candidate])
        if at_least >= need:
            return candidate
    return State.UP
