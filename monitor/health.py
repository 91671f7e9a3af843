"""The health engine: a pure state machine per offering and vantage.

``step(policy, state, sample) -> state`` and nothing else: no clock, no I/O. The live
service and the benchmarks' replays feed it the same samples.

States: ``unknown`` (no evidence yet), ``up``, ``degraded`` (answers, but slow or with
an elevated error ratio), ``down`` (consecutive failures or a high error ratio) and
``retired`` (the provider says the model is gone: an answer, not an outage).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from enum import StrEnum

from monitor.interfaces import Outcome


class State(StrEnum):
    UNKNOWN = "unknown"
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    RETIRED = "retired"


#: outcomes that say nothing about the provider's health: the probe was refused for
#: quota (reported, but never makes a provider down on its own)
NEUTRAL = frozenset({Outcome.RATE_LIMITED})
#: outcomes that prove the provider answered properly
HEALTHY = frozenset({Outcome.OK, Outcome.CONTENT_FILTERED})


@dataclass(frozen=True, kw_only=True)
class HealthPolicy:
    fail_threshold: int = 3
    recover_threshold: int = 2
    window: int = 20
    min_samples: int = 5
    down_error_ratio: float = 0.5
    degraded_error_ratio: float = 0.2
    #: p95 of successful totals above this (seconds) makes the offering degraded
    latency_objective_s: float | None = None


@dataclass(frozen=True, kw_only=True)
class Sample:
    outcome: Outcome
    at: dt.datetime
    latency_s: float | None = None
    kind: str = "generate"


@dataclass(frozen=True, kw_only=True)
class HealthState:
    state: State = State.UNKNOWN
    since: dt.datetime | None = None
    reason: str = "no probe yet"
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    #: recent (healthy?, latency) pairs, oldest first, at most ``policy.window``
    recent: tuple[tuple[bool, float | None], ...] = field(default=())
    last_outcome: Outcome | None = None


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def step(policy: HealthPolicy, state: HealthState, sample: Sample) -> HealthState:
    """The state after one more sample."""
    if sample.outcome in NEUTRAL:
        return replace(state, last_outcome=sample.outcome)
    healthy = sample.outcome in HEALTHY
    recent = (*state.recent, (healthy, sample.latency_s if healthy else None))
    recent = recent[-policy.window :]
    failures = 0 if healthy else state.consecutive_failures + 1
    successes = state.consecutive_successes + 1 if healthy else 0
    new, reason = _judge(policy, state, sample, recent, failures, successes)
    changed = new != state.state
    return HealthState(
        state=new,
        since=sample.at if changed or state.since is None else state.since,
        reason=reason,
        consecutive_failures=failures,
        consecutive_successes=successes,
        recent=recent,
        last_outcome=sample.outcome,
    )


def _judge(
    policy: HealthPolicy,
    state: HealthState,
    sample: Sample,
    recent: tuple[tuple[bool, float | None], ...],
    failures: int,
    successes: int,
) -> tuple[State, str]:
    if sample.outcome == Outcome.MODEL_UNAVAILABLE:
        return State.RETIRED, "the provider reports the model as not found or retired"
    errors = sum(1 for ok, _ in recent if not ok)
    ratio = errors / len(recent) if recent else 0.0
    enough = len(recent) >= policy.min_samples
    if failures >= policy.fail_threshold:
        return State.DOWN, f"{failures} consecutive failures, last {sample.outcome}"
    if enough and ratio >= policy.down_error_ratio:
        return State.DOWN, f"error ratio {ratio:.0%} over the last {len(recent)} probes"
    if state.state in (State.DOWN, State.RETIRED) and successes < policy.recover_threshold:
        return state.state, state.reason
    if state.state == State.UNKNOWN and not successes:
        return State.UNKNOWN, f"first probe failed: {sample.outcome}"
    if enough and ratio >= policy.degraded_error_ratio:
        return State.DEGRADED, f"error ratio {ratio:.0%} over the last {len(recent)} probes"
    if policy.latency_objective_s is not None:
        p95 = _p95([lat for ok, lat in recent if ok and lat is not None])
        if p95 is not None and p95 > policy.latency_objective_s and enough:
            return State.DEGRADED, (
                f"p95 latency {p95:.1f}s is over the {policy.latency_objective_s:.1f}s objective"
            )
    if not successes:
        return (state.state if state.state != State.UNKNOWN else State.UNKNOWN), (
            f"last probe failed: {sample.outcome}"
        )
    return State.UP, "probes succeed"


class HealthBook:
    """The engine's live state for every (offering, vantage); a thin shell over :func:`step`."""

    def __init__(self, policy: HealthPolicy | None = None) -> None:
        self.policy = policy or HealthPolicy()
        self.states: dict[tuple[str, str], HealthState] = {}

    def observe(self, offering: str, vantage: str, sample: Sample) -> HealthState:
        key = (offering, vantage)
        new = step(self.policy, self.states.get(key, HealthState()), sample)
        self.states[key] = new
        return new

    def get(self, offering: str, vantage: str) -> HealthState:
        return self.states.get((offering, vantage), HealthState())
