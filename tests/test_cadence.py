"""Adaptive cadence: pure decisions over health states."""

from __future__ import annotations

import datetime as dt

import pytest

from monitor.budget import Purpose
from monitor.cadence import CadencePolicy, next_generate_delay, plan_control, plan_generate
from monitor.health import HealthPolicy, HealthState, Sample, State, step
from monitor.interfaces import Outcome

T0 = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
POLICY = CadencePolicy()
BUDGET_INTERVAL = 4937.0  # $0.70 a day at $0.04


def feed(
    state: HealthState, kind: str, *outcomes: Outcome, latency: float = 1.0, at: dt.datetime = T0
) -> HealthState:
    policy = HealthPolicy(latency_objective_s=30.0)
    for outcome in outcomes:
        state = step(policy, state, Sample(outcome=outcome, at=at, latency_s=latency, kind=kind))
    return state


def test_nothing_sent_yet_means_now() -> None:
    assert plan_control(HealthState(), POLICY, T0).at == T0
    assert plan_generate(HealthState(), POLICY, T0, BUDGET_INTERVAL).at == T0


def test_control_runs_every_30s_and_confirms_a_failure_at_once() -> None:
    up = feed(HealthState(), "control", Outcome.OK)
    assert plan_control(up, POLICY, T0).delay_s(T0) == 30.0
    failed = feed(up, "control", Outcome.CONNECT_ERROR)
    assert plan_control(failed, POLICY, T0).delay_s(T0) == pytest.approx(0.25)


def test_control_watches_for_recovery_while_down() -> None:
    down = feed(HealthState(), "control", Outcome.OK, *[Outcome.CONNECT_ERROR] * 4)
    assert down.state == State.DOWN
    assert plan_control(down, POLICY, T0).delay_s(T0) == 5.0
    recovering = feed(down, "control", Outcome.OK)
    assert plan_control(recovering, POLICY, T0).delay_s(T0) == pytest.approx(0.25)


def test_paid_probes_run_at_the_budget_cadence_within_bounds() -> None:
    up = feed(HealthState(), "generate", Outcome.OK)
    assert next_generate_delay(up, POLICY, T0, BUDGET_INTERVAL) == BUDGET_INTERVAL
    assert next_generate_delay(up, POLICY, T0, 60.0) == POLICY.generate_min_interval_s
    assert next_generate_delay(up, POLICY, T0, 1e9) == POLICY.generate_max_interval_s


def test_stable_generation_backs_off_up_to_the_bound_when_asked() -> None:
    backoff = CadencePolicy(backoff_after=6)
    stable = feed(HealthState(), "generate", *[Outcome.OK] * 6)
    assert next_generate_delay(stable, backoff, T0, BUDGET_INTERVAL) == BUDGET_INTERVAL * 1.5
    longer = feed(stable, "generate", *[Outcome.OK] * 60)
    assert next_generate_delay(longer, backoff, T0, BUDGET_INTERVAL) == (
        backoff.generate_max_interval_s
    )
    # the default keeps the budget's interval: backing off made outages late (issue 17)
    assert next_generate_delay(longer, POLICY, T0, BUDGET_INTERVAL) == BUDGET_INTERVAL


def test_a_failed_or_slow_paid_probe_is_confirmed_early_from_the_confirm_slice() -> None:
    up = feed(HealthState(), "generate", Outcome.OK)
    # a failed probe is not billed: its confirmation comes sooner than a slow one's
    fail_confirm = POLICY.generate_confirm_s * POLICY.generate_fail_confirm_share
    for suspect, wait in (
        (feed(up, "generate", Outcome.SERVER_ERROR), fail_confirm),
        (feed(up, "generate", Outcome.OK, latency=60.0), POLICY.generate_confirm_s),
    ):
        plan = plan_generate(suspect, POLICY, T0, BUDGET_INTERVAL)
        assert plan.purpose == Purpose.CONFIRM
        assert plan.delay_s(T0) == wait
    assert 0 < fail_confirm < POLICY.generate_confirm_s


def test_two_control_failures_bring_an_early_paid_probe() -> None:
    state = feed(HealthState(), "generate", Outcome.OK)
    later = T0 + dt.timedelta(seconds=1)
    state = feed(state, "control", Outcome.OK, Outcome.SERVER_ERROR, Outcome.SERVER_ERROR, at=later)
    plan = plan_generate(state, POLICY, T0 + dt.timedelta(seconds=1), BUDGET_INTERVAL)
    assert plan.purpose == Purpose.CONFIRM


def test_paid_probes_pause_while_control_is_down() -> None:
    state = feed(HealthState(), "generate", Outcome.OK)
    state = feed(state, "control", Outcome.OK, *[Outcome.CONNECT_ERROR] * 4)
    plan = plan_generate(state, POLICY, T0, BUDGET_INTERVAL)
    assert plan.delay_s(T0) == POLICY.generate_max_interval_s and "paused" in plan.reason


def test_fresh_passive_traffic_replaces_paid_probes() -> None:
    state = feed(HealthState(), "generate", Outcome.OK)
    state = feed(state, "passive", Outcome.OK, Outcome.OK)
    plan = plan_generate(state, POLICY, T0, BUDGET_INTERVAL)
    assert plan.delay_s(T0) == BUDGET_INTERVAL and "passive" in plan.reason
    # a failed passive sample is a claim: a paid probe confirms it early
    claim = feed(state, "passive", Outcome.SERVER_ERROR)
    confirm = plan_generate(claim, POLICY, T0, BUDGET_INTERVAL)
    assert confirm.purpose == Purpose.CONFIRM
    assert confirm.delay_s(T0) == POLICY.generate_confirm_s
    later = T0 + dt.timedelta(seconds=POLICY.passive_fresh_s + 1)
    assert plan_generate(state, POLICY, later, BUDGET_INTERVAL).reason == "regular"


def test_rate_limits_back_off_instead_of_confirming() -> None:
    state = feed(HealthState(), "control", Outcome.OK, *[Outcome.RATE_LIMITED] * 3)
    assert plan_control(state, POLICY, T0).delay_s(T0) == 240.0
    many = feed(state, "control", *[Outcome.RATE_LIMITED] * 10)
    assert plan_control(many, POLICY, T0).delay_s(T0) == POLICY.rate_limited_max_s


def test_bounds_must_be_ordered() -> None:
    with pytest.raises(ValueError):
        CadencePolicy(generate_min_interval_s=10_000, generate_max_interval_s=100)


def test_a_degraded_offering_is_never_probed_later_than_its_regular_interval() -> None:
    """Degraded probes watch for the end from the recover purpose, every
    ``generate_degraded_s`` or at ``degraded_brake_share`` of the budget's pace when
    money is short, but never later than a fast configured regular interval."""
    erring = feed(
        HealthState(),
        "generate",
        *[Outcome.OK] * 3,
        Outcome.SERVER_ERROR,
        Outcome.SERVER_ERROR,
        Outcome.OK,
    )
    assert erring.generate.state == State.DEGRADED and not erring.generate.failures
    fast = CadencePolicy(generate_min_interval_s=1.0, generate_max_interval_s=60.0)
    assert next_generate_delay(erring, fast, T0, 1.0) == 1.0
    plan = plan_generate(erring, POLICY, T0, 1728.0)  # $1 a day at $0.02
    assert plan.purpose == Purpose.RECOVER
    assert plan.delay_s(T0) == POLICY.generate_degraded_s < 1728.0
    # money short (the pace stretched by what the slowdown spent): the brake
    brake = POLICY.degraded_brake_share * BUDGET_INTERVAL
    assert next_generate_delay(erring, POLICY, T0, BUDGET_INTERVAL) == pytest.approx(brake)
    assert next_generate_delay(erring, POLICY, T0, 60.0) == POLICY.generate_degraded_s


def test_a_slow_offering_is_watched_for_its_recovery_from_the_recover_purpose() -> None:
    slow = feed(HealthState(), "generate", *[Outcome.OK] * 3)
    slow = feed(slow, "generate", *[Outcome.OK] * 3, latency=60.0)
    assert slow.state == State.DEGRADED and "slow" in slow.reason
    plan = plan_generate(slow, POLICY, T0, 1728.0)
    assert plan.purpose == Purpose.RECOVER and "degraded" in plan.reason
    assert plan.delay_s(T0) == POLICY.generate_degraded_s
    # one fast answer ends it
    assert feed(slow, "generate", Outcome.OK, latency=1.0).state == State.UP
