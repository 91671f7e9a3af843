"""Issue 17, lever 4: after an outage the offering is back after ``recover_threshold``
good answers, after a slowdown after ``latency_recover_samples`` fast ones (one by
default), not after the bad ones dilute out of the window."""

from __future__ import annotations

import datetime as dt

from monitor.health import HealthPolicy, HealthState, Sample, State, step
from monitor.interfaces import Outcome

T0 = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
POLICY = HealthPolicy(latency_objective_s=30.0)


def run(state: HealthState, *samples: tuple[Outcome, float]) -> HealthState:
    for n, (outcome, latency) in enumerate(samples):
        at = T0 + dt.timedelta(seconds=60 * n)
        state = step(POLICY, state, Sample(outcome=outcome, at=at, latency_s=latency))
    return state


def test_two_successes_end_a_long_outage_whatever_the_error_ratio() -> None:
    up = run(HealthState(), *[(Outcome.OK, 8.0)] * 5)
    down = run(up, *[(Outcome.SERVER_ERROR, 1.0)] * 15)
    assert down.state == State.DOWN
    assert run(down, (Outcome.OK, 8.0)).state == State.DOWN
    back = run(down, (Outcome.OK, 8.0), (Outcome.OK, 8.0))
    assert back.state == State.UP and "recovered" in back.reason
    # and a fresh failure after it is one failure, not the old ratio coming back
    assert run(back, (Outcome.SERVER_ERROR, 1.0)).state == State.UP


def test_one_fast_answer_ends_a_slowdown() -> None:
    slow = run(HealthState(), *[(Outcome.OK, 8.0)] * 3, *[(Outcome.OK, 50.0)] * 5)
    assert slow.state == State.DEGRADED
    back = run(slow, (Outcome.OK, 8.0))
    assert back.state == State.UP
    # a slow answer after it is one slow answer, not the old slowdown coming back
    assert run(slow, (Outcome.OK, 8.0), (Outcome.OK, 50.0)).state == State.UP
    # and a new slowdown needs its own slow answers
    assert run(back, *[(Outcome.OK, 50.0)] * 3).state == State.DEGRADED


def test_two_fast_answers_end_a_slowdown_when_configured() -> None:
    policy = HealthPolicy(latency_objective_s=30.0, latency_recover_samples=2)
    state = HealthState()
    latencies = [8.0] * 3 + [50.0] * 5 + [8.0]
    for n, latency in enumerate(latencies):
        at = T0 + dt.timedelta(seconds=60 * n)
        state = step(policy, state, Sample(outcome=Outcome.OK, at=at, latency_s=latency))
    assert state.state == State.DEGRADED and state.generate.recovering


def test_an_error_ratio_forgets_failures_older_than_the_time_window() -> None:
    outcomes = [Outcome.OK, Outcome.SERVER_ERROR] * 5  # 50% over 10
    ratio = HealthPolicy(fail_threshold=100, window_s=600.0, down_error_ratio=0.9)
    degraded = HealthState()
    for n, outcome in enumerate(outcomes):
        at = T0 + dt.timedelta(seconds=30 * n)
        degraded = step(ratio, degraded, Sample(outcome=outcome, at=at, latency_s=8.0))
    assert degraded.generate.state == State.DEGRADED
    # no paid probe for longer than the window (the budget paused them): a control
    # success re-judges the stale generate tier by time
    later = T0 + dt.timedelta(seconds=30 * 10 + 601)
    after = step(ratio, degraded, Sample(outcome=Outcome.OK, at=later, kind="control"))
    assert after.generate.state == State.UP and after.state == State.UP
    # within the window it stays
    soon = T0 + dt.timedelta(seconds=30 * 10 + 60)
    kept = step(ratio, degraded, Sample(outcome=Outcome.OK, at=soon, kind="control"))
    assert kept.state == State.DEGRADED


def test_a_fast_answer_after_a_slowdown_is_confirmed_at_once() -> None:
    from monitor.budget import Purpose
    from monitor.cadence import CadencePolicy, plan_generate

    cadence = CadencePolicy()
    policy = HealthPolicy(latency_objective_s=30.0, latency_recover_samples=2)
    slow = HealthState()
    for n, latency in enumerate([8.0] * 3 + [50.0] * 5):
        at = T0 + dt.timedelta(seconds=60 * n)
        slow = step(policy, slow, Sample(outcome=Outcome.OK, at=at, latency_s=latency))
    assert slow.state == State.DEGRADED and not slow.generate.recovering
    now = T0 + dt.timedelta(hours=1)
    fast = step(policy, slow, Sample(outcome=Outcome.OK, at=now, latency_s=8.0))
    assert fast.state == State.DEGRADED and fast.generate.recovering
    plan = plan_generate(fast, cadence, now, 4937.0)
    assert plan.purpose == Purpose.CONFIRM and plan.delay_s(now) == cadence.generate_confirm_s


def test_a_slowdown_is_seen_against_the_offerings_usual_latency_without_an_objective() -> None:
    policy = HealthPolicy()  # no latency objective configured
    state = HealthState()
    at = iter(T0 + dt.timedelta(minutes=n) for n in range(100))

    def answer(latency: float, kind: str = "generate") -> HealthState:
        return step(
            policy, state, Sample(outcome=Outcome.OK, at=next(at), latency_s=latency, kind=kind)
        )

    for latency in (8.0, 9.0, 7.5, 8.5, 8.0, 9.5):
        state = answer(latency)
    assert state.state == State.UP and state.generate.usual_s is not None
    # twice as slow is within the usual spread
    state = answer(16.0)
    assert state.state == State.UP and not state.generate.suspect
    # six times: suspect at once (the cadence confirms it), degraded when most are
    state = answer(48.0)
    assert state.generate.suspect and state.state == State.UP
    state = answer(50.0)
    state = answer(47.0)
    assert state.state == State.DEGRADED and "usually" in state.reason
    # control calls are judged by reachability only: a slow one is no slowdown
    assert answer(5.0, kind="control").control.state == State.UP
    # one answer back at the usual latency ends it
    assert answer(8.0).state == State.UP
