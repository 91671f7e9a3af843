"""The health engine: pure rules, one test per rule."""

from __future__ import annotations

import datetime as dt

import pytest

from monitor.health import (
    HealthBook,
    HealthPolicy,
    HealthState,
    IncidentAction,
    Sample,
    State,
    combine,
    incident_events,
    step,
)
from monitor.interfaces import Outcome

T0 = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
OK, ERR = Outcome.OK, Outcome.SERVER_ERROR


def run(
    outcomes: list[Outcome],
    *,
    kind: str = "control",
    policy: HealthPolicy | None = None,
    state: HealthState | None = None,
    latency: float | None = 1.0,
) -> HealthState:
    policy = policy or HealthPolicy()
    state = state or HealthState()
    for n, outcome in enumerate(outcomes):
        at = T0 + dt.timedelta(seconds=30 * n)
        state = step(policy, state, Sample(outcome=outcome, at=at, latency_s=latency, kind=kind))
    return state


def test_no_sample_is_unknown_and_a_success_is_up() -> None:
    assert HealthState().state == State.UNKNOWN
    assert run([OK]).state == State.UP


def test_consecutive_failures_reach_down_at_the_threshold() -> None:
    up = run([OK] * 30)
    assert run([ERR] * 3, state=up).state == State.UP
    down = run([ERR] * 4, state=up)
    assert down.state == State.DOWN
    assert "4 consecutive failures" in down.reason
    assert down.reason.startswith("control:")


def test_recovery_needs_the_configured_successes() -> None:
    down = run([OK] * 30 + [ERR] * 4)
    assert run([OK], state=down).state == State.DOWN
    assert run([OK, OK], state=down).state == State.UP


def test_an_error_ratio_over_the_window_is_down_with_enough_samples() -> None:
    policy = HealthPolicy(fail_threshold=100)
    down = run([OK, ERR] * 10, policy=policy)
    assert down.state == State.DOWN
    # the reason names what failed, as the consecutive-failures reason does
    assert "error ratio" in down.reason and ERR.value in down.reason
    assert run([ERR, ERR], policy=HealthPolicy(fail_threshold=100, min_samples=5)).state == (
        State.UNKNOWN
    )


def test_the_end_of_an_outage_takes_the_other_tiers_failures_in_it_along() -> None:
    # a hard outage: control is down, three paid probes failed with it (one short of down)
    state = run([OK], kind="generate")
    state = run([ERR] * 4, state=state)
    assert state.state == State.DOWN
    for n in range(3):
        at = T0 + dt.timedelta(seconds=200 + n)
        state = step(HealthPolicy(), state, Sample(outcome=ERR, at=at, kind="generate"))
    # control recovers, then the next paid probe succeeds: up, not "60 % errors"
    for n in range(2):
        at = T0 + dt.timedelta(seconds=300 + n)
        state = step(HealthPolicy(), state, Sample(outcome=OK, at=at, kind="control"))
    at = T0 + dt.timedelta(seconds=400)
    state = step(HealthPolicy(), state, Sample(outcome=OK, at=at, latency_s=1.0, kind="generate"))
    assert state.state == State.UP, state.reason


def test_a_moderate_error_ratio_is_degraded() -> None:
    outcomes = [OK, OK, OK, ERR] * 5  # 25% over 20
    assert run(outcomes).state == State.DEGRADED


def test_latency_over_the_objective_is_degraded_by_the_median_not_one_outlier() -> None:
    policy = HealthPolicy(latency_objective_s=30.0)
    fast = run([OK] * 5, kind="generate", policy=policy, latency=8.0)
    one_slow = run([OK], kind="generate", policy=policy, state=fast, latency=60.0)
    assert one_slow.state == State.UP
    assert one_slow.generate.suspect  # the cadence confirms it early
    slow = run([OK] * 3, kind="generate", policy=policy, state=fast, latency=60.0)
    assert slow.state == State.DEGRADED
    assert "objective" in slow.reason
    assert run([OK] * 3, kind="generate", policy=policy, state=slow, latency=8).state == State.UP


def test_rate_limits_are_reported_but_never_make_it_down() -> None:
    state = run([OK] * 3 + [Outcome.RATE_LIMITED] * 50)
    assert state.state == State.UP
    assert state.last_outcome == Outcome.RATE_LIMITED
    assert state.consecutive_rate_limited == 50
    assert run([Outcome.RATE_LIMITED] * 10).state == State.UNKNOWN


def test_model_unavailable_twice_is_retired_not_down() -> None:
    up = run([OK] * 3)
    assert run([Outcome.MODEL_UNAVAILABLE], state=up).state == State.UP
    retired = run([Outcome.MODEL_UNAVAILABLE] * 2, state=up)
    assert retired.state == State.RETIRED
    assert "retired" in retired.reason


def test_control_successes_do_not_mask_a_generation_outage() -> None:
    state = run([OK] * 5)
    for n in range(4):
        state = run([OK] * 10, state=state)  # control keeps succeeding
        state = step(
            HealthPolicy(),
            state,
            Sample(outcome=ERR, at=T0 + dt.timedelta(hours=n + 1), kind="generate"),
        )
    assert state.control.state == State.UP
    assert state.generate.state == State.DOWN
    assert state.state == State.DOWN
    assert state.reason.startswith("generate:")


def test_passive_samples_are_judged_with_the_generate_tier_by_distinct_minute() -> None:
    state = run([OK] * 5)
    # four failures 30 s apart fall in two minutes: a suspicion to confirm, not an outage
    state = run([ERR] * 4, kind="passive", state=state)
    assert state.state == State.UP and state.passive_suspect and state.generate.suspect
    assert state.last_passive_at is not None and state.last_paid_at is None
    # the same failures a minute apart (three distinct minutes over two): down
    spread = run([OK] * 5)
    for n in range(3):
        at = T0 + dt.timedelta(minutes=n)
        spread = step(HealthPolicy(), spread, Sample(outcome=ERR, at=at, kind="passive"))
    assert spread.generate.state == State.DOWN and spread.passive_down
    assert spread.control.state == State.UP


def test_a_content_filter_block_is_a_healthy_answer() -> None:
    assert run([Outcome.CONTENT_FILTERED] * 10, kind="generate").state == State.UP


@pytest.mark.parametrize(
    ("states", "quorum", "expected"),
    [
        ([], 2, State.UNKNOWN),
        ([State.UNKNOWN, State.UNKNOWN], 1, State.UNKNOWN),
        ([State.DOWN], 2, State.DOWN),  # one voter: the quorum shrinks to it
        ([State.DOWN, State.UP, State.UP], 2, State.UP),
        ([State.DOWN, State.DOWN, State.UP], 2, State.DOWN),
        ([State.DOWN, State.DEGRADED, State.UP], 2, State.DEGRADED),
        ([State.RETIRED, State.RETIRED, State.UP], 2, State.RETIRED),
        ([State.RETIRED, State.DOWN, State.UP], 2, State.DOWN),
        ([State.UP, State.UNKNOWN, State.UNKNOWN], 2, State.UP),
    ],
)
def test_vantages_combine_by_quorum(states: list[State], quorum: int, expected: State) -> None:
    assert combine(states, quorum) == expected


def test_incidents_open_on_a_bad_state_and_close_on_recovery() -> None:
    up = run([OK] * 20)
    down = run([ERR] * 4, state=up)
    [opened] = incident_events("o/m", "eu", up, down)
    assert opened.action == IncidentAction.OPEN and opened.state == State.DOWN
    assert opened.at == down.since and "consecutive" in opened.reason
    back = run([OK, OK], state=down)
    [closed] = incident_events("o/m", "eu", down, back)
    assert closed.action == IncidentAction.CLOSE and closed.state == State.DOWN
    assert incident_events("o/m", "eu", up, up) == []


def test_degraded_to_down_closes_one_incident_and_opens_the_next() -> None:
    degraded = HealthState(state=State.DEGRADED, since=T0)
    down = HealthState(state=State.DOWN, since=T0 + dt.timedelta(minutes=5), reason="x")
    events = incident_events("o/m", "eu", degraded, down)
    assert [(e.action, e.state) for e in events] == [
        (IncidentAction.CLOSE, State.DEGRADED),
        (IncidentAction.OPEN, State.DOWN),
    ]


def test_the_book_reports_changes_and_combines_vantages() -> None:
    seen: list[tuple[State, State]] = []
    book = HealthBook(
        on_change=lambda o, v, before, after: seen.append((before.state, after.state))
    )
    for vantage in ("eu", "us"):
        for n in range(4):
            book.observe("o/m", vantage, Sample(outcome=ERR, at=T0 + dt.timedelta(seconds=n)))
    book.observe("o/m", "ap", Sample(outcome=OK, at=T0, kind="control"))
    assert seen == [
        (State.UNKNOWN, State.DOWN),
        (State.UNKNOWN, State.DOWN),
        (State.UNKNOWN, State.UP),
    ]
    assert book.combined("o/m", quorum=2) == State.DOWN
    assert book.combined("o/m", quorum=3) == State.UP
    assert book.get("o/m", "eu").consecutive_failures == 4
