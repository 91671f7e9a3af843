"""The health engine: a pure state machine per offering and vantage.

``step(policy, state, sample) -> state`` and nothing else: no clock, no I/O. The live
service and the benchmarks' replays feed it the same samples.

States: ``unknown`` (no evidence yet), ``up``, ``degraded`` (answers, but slow or with
an elevated error ratio), ``down`` (consecutive failures or a high error ratio) and
``retired`` (the provider says the model is gone: an answer, not an outage).

Two tiers are judged apart and combined by severity: ``control`` (free reachability calls)
and ``generate`` (paid probes and passive samples of real traffic). Frequent control
successes therefore never mask a generation-only outage: the offering is ``down`` when
either tier says so. Several vantages combine into one state by quorum (:func:`combine`),
and state changes become incident open/close events (:func:`incident_events`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import replace

from monitor.health_latency import forget_slow_spell, is_slow, slow_flags, slow_reason
from monitor.health_model import (
    BAD,
    HEALTHY,
    NEUTRAL,
    SEVERITY,
    HealthPolicy,
    HealthState,
    Sample,
    State,
    Tier,
    TierState,
    combine,
)
from monitor.incidents import IncidentAction, IncidentEvent, incident_events
from monitor.interfaces import Outcome

__all__ = [
    "BAD",
    "HEALTHY",
    "NEUTRAL",
    "SEVERITY",
    "HealthBook",
    "HealthPolicy",
    "HealthState",
    "IncidentAction",
    "IncidentEvent",
    "Sample",
    "State",
    "Tier",
    "TierState",
    "combine",
    "incident_events",
    "step",
]


def tier_of(kind: str) -> Tier:
    """Passive samples are real generations: they are judged with the paid probes."""
    return Tier.CONTROL if kind == "control" else Tier.GENERATE


def worst(states: Iterable[State]) -> State:
    return max(states, key=SEVERITY.__getitem__, default=State.UNKNOWN)


def step(policy: HealthPolicy, state: HealthState, sample: Sample) -> HealthState:
    """The state after one more sample. Pure; samples must arrive in time order."""
    if sample.kind == "passive":
        return step_passive(policy, state, sample)
    return _step(policy, state, sample)


def _step(policy: HealthPolicy, state: HealthState, sample: Sample) -> HealthState:
    if sample.kind == "generate":
        state = _probe_answers_passive(state, sample)
    control_at = sample.at if sample.kind == "control" else state.last_control_at
    paid = sample.at if sample.kind == "generate" else state.last_paid_at
    passive = sample.at if sample.kind == "passive" else state.last_passive_at
    if sample.outcome in NEUTRAL:
        return replace(
            state,
            last_outcome=sample.outcome,
            consecutive_rate_limited=state.consecutive_rate_limited + 1,
            last_control_at=control_at,
            last_paid_at=paid,
            last_passive_at=passive,
        )
    tier = tier_of(sample.kind)
    new_tier = step_tier(policy, state.tier(tier), sample)
    control = new_tier if tier == Tier.CONTROL else _expire(policy, state.control, sample.at)
    generate = new_tier if tier == Tier.GENERATE else _expire(policy, state.generate, sample.at)
    if _ended_outage(state, state.tier(tier), new_tier):
        # the other tier's failures during the spell were the same outage: they must not
        # turn it degraded or down once the spell is over
        if tier == Tier.CONTROL:
            generate = _forget_spell(generate, state.since)
        else:
            control = _forget_spell(control, state.since)
    overall = worst((control.state, generate.state))
    # the reason of the tier that decided, so "down" says which tier saw it
    deciding = control if SEVERITY[control.state] >= SEVERITY[generate.state] else generate
    name = Tier.CONTROL if deciding is control else Tier.GENERATE
    healthy = sample.outcome in HEALTHY
    changed = overall != state.state
    works = healthy and tier == Tier.GENERATE  # a control success does not clear passive claims
    account = sample.outcome == Outcome.AUTH_ERROR or (state.account_problem and not healthy)
    return HealthState(
        state=overall,
        since=sample.at if changed or state.since is None else state.since,
        reason=("account: our credentials, billing or quota; " if account else "")
        + f"{name}: {deciding.reason}",
        consecutive_failures=0 if healthy else state.consecutive_failures + 1,
        consecutive_successes=state.consecutive_successes + 1 if healthy else 0,
        consecutive_rate_limited=0,
        last_outcome=sample.outcome,
        control=control,
        generate=generate,
        last_control_at=control_at,
        last_paid_at=paid,
        last_passive_at=passive,
        passive_failed_minutes=() if works else state.passive_failed_minutes,
        passive_suspect=state.passive_suspect,
        passive_down=state.passive_down,
        passive_ok_minute=state.passive_ok_minute,
        account_problem=account,
    )


# -- passive samples: a gateway's claims, weighed by distinct time (issue 13) ----------------


def _minute(at: dt.datetime) -> int:
    return int(at.timestamp() // 60)


def _probe_answers_passive(state: HealthState, sample: Sample) -> HealthState:
    """A paid probe settles what passive samples claimed: it ends the suspicion, and a
    success ends a down that rested on passive evidence alone."""
    if not (state.passive_suspect or state.passive_down):
        return state
    settled = replace(state, passive_suspect=False, passive_down=False)
    if state.passive_down and sample.outcome in HEALTHY:
        refuted = replace(
            state.generate, state=State.UP, reason="a probe succeeded", failures=0, recent=()
        )
        settled = replace(settled, generate=refuted, passive_failed_minutes=())
    return settled


def step_passive(policy: HealthPolicy, state: HealthState, sample: Sample) -> HealthState:
    """One passive sample: a claim from a gateway's traffic, not a probe.

    Whoever holds the samples token can send anything, so a sample is weighed by its
    minute, not counted: a thousand failures in one minute are one piece of evidence.
    A failure makes the generate tier suspect (``passive_suspect``: the cadence sends a
    confirmation probe at once); failures alone make it ``down`` only when they fall in
    ``passive_down_minutes`` distinct minutes spread over ``passive_down_span_s`` with no
    healthy sample between. A successful paid probe refutes that (:func:`_probe_answers_passive`).
    Successes count once per minute; 429s say nothing about our quota and are ignored.
    """
    seen = replace(state, last_passive_at=sample.at)
    minute = _minute(sample.at)
    if sample.outcome in NEUTRAL:
        return seen
    if sample.outcome in HEALTHY:
        if minute == state.passive_ok_minute and not state.passive_down:
            return seen  # this minute's success is already counted
        if state.passive_down:  # real traffic works again: the claim is withdrawn
            seen = _probe_answers_passive(seen, replace(sample, kind="generate"))
        cleared = replace(seen, passive_suspect=False, passive_ok_minute=minute)
        return _step(policy, cleared, sample)
    minutes = tuple(sorted({*state.passive_failed_minutes, minute}))[-policy.window :]
    span_s = (minutes[-1] - minutes[0]) * 60
    sustained = len(minutes) >= policy.passive_down_minutes and span_s >= policy.passive_down_span_s
    generate = replace(state.generate, suspect=True, last_at=sample.at)
    passive_down = state.passive_down
    if sustained and state.generate.state not in (State.DOWN, State.RETIRED):
        reason = (
            f"passive samples failing in {len(minutes)} distinct minutes over "
            f"{span_s // 60} min, last {sample.outcome} (unconfirmed by a probe)"
        )
        generate = replace(generate, state=State.DOWN, reason=reason)
        passive_down = True
    overall = worst((state.control.state, generate.state))
    deciding = (
        state.control if SEVERITY[state.control.state] >= SEVERITY[generate.state] else generate
    )
    name = Tier.CONTROL if deciding is state.control else Tier.GENERATE
    return replace(
        seen,
        state=overall,
        since=sample.at if overall != state.state or state.since is None else state.since,
        reason=f"{name}: {deciding.reason}",
        generate=generate,
        passive_failed_minutes=minutes,
        # an outage a probe already confirmed needs no more confirming
        passive_suspect=passive_down or state.generate.state != State.DOWN,
        passive_down=passive_down,
    )


def step_tier(policy: HealthPolicy, tier: TierState, sample: Sample) -> TierState:
    """One tier's state after one non-neutral sample of that tier."""
    healthy = sample.outcome in HEALTHY
    recent, recent_at = _window(policy, tier, healthy, sample.at)
    latencies, flags, usual, usual_n = tier.latencies, tier.slow, tier.usual_s, tier.usual_n
    slow = False
    if healthy and sample.latency_s is not None:
        slow = is_slow(policy, tier, sample.latency_s, sample.kind)
        latencies = (*latencies, sample.latency_s)[-policy.latency_window :]
        flags = (*slow_flags(tier), slow)[-policy.latency_window :]
        latencies, flags = forget_slow_spell(policy, tier, latencies, flags)
        if not slow:
            usual = sample.latency_s if usual is None else 0.8 * usual + 0.2 * sample.latency_s
            usual_n += 1
    recovering = (
        tier.state == State.DEGRADED
        and healthy
        and not slow
        and slow_reason(policy, tier) is not None
    )
    counted = replace(
        tier,
        slow=flags,
        usual_s=usual,
        usual_n=usual_n,
        failures=0 if healthy else tier.failures + 1,
        successes=tier.successes + 1 if healthy else 0,
        unavailable=tier.unavailable + 1 if sample.outcome == Outcome.MODEL_UNAVAILABLE else 0,
        recent=recent,
        recent_at=recent_at,
        latencies=latencies,
        last_at=sample.at,
        suspect=slow or not healthy,
        recovering=recovering,
    )
    new, reason = _judge(policy, tier.state, tier.reason, counted, sample.outcome)
    if tier.state in (State.DOWN, State.RETIRED) and new not in (State.DOWN, State.RETIRED):
        # the outage's failures say nothing about the recovered provider: without this
        # reset it would sit "degraded" until they leave the window
        keep = counted.successes
        counted = replace(
            counted, recent=(True,) * keep, recent_at=counted.recent_at[-keep:] if keep else ()
        )
    return replace(counted, state=new, reason=reason)


def _judge(
    policy: HealthPolicy, before: State, before_reason: str, tier: TierState, outcome: Outcome
) -> tuple[State, str]:
    if tier.unavailable >= policy.retire_threshold:
        return State.RETIRED, "the provider reports the model as not found or retired"
    errors = tier.recent.count(False)
    ratio = errors / len(tier.recent)
    enough = len(tier.recent) >= policy.min_samples
    if tier.failures >= policy.fail_threshold:
        return State.DOWN, f"{tier.failures} consecutive failures, last {outcome}"
    if before in (State.DOWN, State.RETIRED):
        # recovery is judged by time, not by the outage's failures diluting out of the
        # window: ``recover_threshold`` successes in a row end the spell (issue 17, lever 4)
        if tier.successes < policy.recover_threshold:
            return before, before_reason
        return State.UP, f"recovered: {tier.successes} successes in a row"
    if enough and ratio >= policy.down_error_ratio:
        return (
            State.DOWN,
            f"error ratio {ratio:.0%} over the last {len(tier.recent)} samples, last {outcome}",
        )
    if before == State.UNKNOWN and not tier.successes:
        return State.UNKNOWN, f"first samples failed, last {outcome}"
    if enough and ratio >= policy.degraded_error_ratio:
        return (
            State.DEGRADED,
            f"error ratio {ratio:.0%} over the last {len(tier.recent)} samples, last {outcome}",
        )
    slow = slow_reason(policy, tier)
    if slow is not None:
        return State.DEGRADED, slow
    if not tier.successes:
        # one failure proves nothing yet: keep the state (and its reason) until a threshold
        return before, before_reason
    return State.UP, "samples succeed"


def _ended_outage(state: HealthState, before: TierState, after: TierState) -> bool:
    """This sample ended a ``down`` spell of the offering in the tier that saw it."""
    return (
        state.state == State.DOWN
        and state.since is not None
        and before.state == State.DOWN
        and after.state not in (State.DOWN, State.RETIRED)
    )


def _forget_spell(tier: TierState, since: dt.datetime | None) -> TierState:
    """``tier`` without the failures it sampled since ``since`` (an outage that ended); a
    tier that is itself ``down`` keeps its verdict until its own samples recover."""
    if since is None or tier.state in (State.DOWN, State.RETIRED):
        return tier
    n = min(len(tier.recent), len(tier.recent_at))  # a refuted passive claim empties recent
    pairs = zip(
        tier.recent[len(tier.recent) - n :], tier.recent_at[len(tier.recent_at) - n :], strict=True
    )
    kept = [(ok, at) for ok, at in pairs if ok or at < since]
    streak_in_spell = tier.failures and tier.last_at is not None and tier.last_at >= since
    return replace(
        tier,
        recent=tuple(ok for ok, _ in kept),
        recent_at=tuple(at for _, at in kept),
        failures=0 if streak_in_spell else tier.failures,
    )


def _expire(policy: HealthPolicy, tier: TierState, now: dt.datetime) -> TierState:
    """A tier ``degraded`` by its error ratio whose last sample left the time window has
    no failures left in it: it is ``up`` again, judged by time (paid probes may be
    paused by the budget meanwhile). Slowness and outages never expire this way."""
    if tier.state != State.DEGRADED or policy.window_s is None or tier.last_at is None:
        return tier
    if (now - tier.last_at).total_seconds() <= policy.window_s:
        return tier
    if slow_reason(policy, tier) is not None:
        return tier
    return replace(
        tier,
        state=State.UP,
        reason=f"no failure in the last {policy.window_s:.0f}s",
        recent=(),
        recent_at=(),
    )


def _window(
    policy: HealthPolicy, tier: TierState, healthy: bool, at: dt.datetime
) -> tuple[tuple[bool, ...], tuple[dt.datetime, ...]]:
    """The error-ratio window after one more sample: the last ``window`` samples, of
    which only those within ``window_s`` of this one."""
    recent = (*tier.recent, healthy)[-policy.window :]
    if len(tier.recent_at) != len(tier.recent):  # a state built without times
        return recent, ()
    recent_at = (*tier.recent_at, at)[-policy.window :]
    if policy.window_s is not None:
        cut = at - dt.timedelta(seconds=policy.window_s)
        drop = sum(1 for when in recent_at if when < cut)
        recent, recent_at = recent[drop:], recent_at[drop:]
    return recent, recent_at


ChangeHook = Callable[[str, str, HealthState, HealthState], None]


class HealthBook:
    """The engine's live state for every (offering, vantage); a thin shell over :func:`step`.

    ``on_change(offering, vantage, before, after)`` is called when a state changes (for
    incidents and re-planning the cadence); it must not raise.
    """

    def __init__(self, policy: HealthPolicy | None = None, on_change: ChangeHook | None = None):
        self.policy = policy or HealthPolicy()
        self.states: dict[tuple[str, str], HealthState] = {}
        self.on_change = on_change
        #: counts state changes: what a reader of the states caches by
        self.changes = 0

    def observe(self, offering: str, vantage: str, sample: Sample) -> HealthState:
        key = (offering, vantage)
        before = self.states.get(key, HealthState())
        new = step(self.policy, before, sample)
        self.states[key] = new
        if new.state != before.state:
            self.changes += 1
            if self.on_change is not None:
                self.on_change(offering, vantage, before, new)
        return new

    def get(self, offering: str, vantage: str) -> HealthState:
        return self.states.get((offering, vantage), HealthState())

    def combined(self, offering: str, quorum: int) -> State:
        """The offering's state over every vantage that reported it."""
        return combine((s.state for (o, _), s in self.states.items() if o == offering), quorum)
