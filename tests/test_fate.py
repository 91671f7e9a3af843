"""Shared fate: pure decisions over the health states of an upstream's members."""

from __future__ import annotations

import datetime as dt

from monitor.budget import Purpose
from monitor.cadence import CadencePolicy, plan_generate
from monitor.fate import (
    FatePolicy,
    Verdict,
    confirmers_of,
    group_interval,
    groups,
    stagger_at,
    verdict,
    view,
)
from monitor.health import HealthPolicy, HealthState, Sample, step
from monitor.interfaces import Outcome

T0 = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
POLICY = FatePolicy()
CADENCE = CadencePolicy()
HEALTH = HealthPolicy(latency_objective_s=30.0)
MODEL = "imagen-4.0-generate-001"
MEMBERS = [f"{p}/{MODEL}" for p in ("vertex", "gemini", "fal", "replicate", "lumenfall")]
INTERVAL = 4937.0


def feed(state: HealthState, *outcomes: Outcome, at: dt.datetime) -> HealthState:
    for outcome in outcomes:
        state = step(HEALTH, state, Sample(outcome=outcome, at=at, latency_s=8.0))
    return state


def healthy_group(at: dt.datetime) -> dict[str, HealthState]:
    return {
        m: feed(HealthState(), Outcome.OK, at=at - dt.timedelta(minutes=10 * n))
        for n, m in enumerate(MEMBERS)
    }


def test_groups_follow_the_declared_upstream() -> None:
    upstream = {m: "imagen-4" for m in MEMBERS} | {"fal/flux-2": "flux"}
    assert groups(upstream) == {"imagen-4": tuple(sorted(MEMBERS)), "flux": ("fal/flux-2",)}


def test_one_failure_asks_a_few_siblings_on_other_providers_to_confirm_now() -> None:
    states = healthy_group(T0)
    states["fal/" + MODEL] = feed(states["fal/" + MODEL], Outcome.SERVER_ERROR, at=T0)
    chosen = confirmers_of("fal/" + MODEL, states, POLICY)
    assert len(chosen) == POLICY.confirmers and not any(c.startswith("fal/") for c in chosen)
    # the stalest evidence first: lumenfall was probed longest ago
    assert chosen[0] == "lumenfall/" + MODEL
    now = T0 + dt.timedelta(seconds=1)
    for member in MEMBERS:
        fate = view(member, states, POLICY, now)
        plan = plan_generate(states[member], CADENCE, now, INTERVAL, fate)
        if member in chosen:
            assert plan.at == now and plan.purpose == Purpose.CONFIRM, member
        elif member != "fal/" + MODEL:
            assert plan.at > now + dt.timedelta(minutes=5), member


def test_failures_at_two_providers_make_the_whole_group_confirm_fast() -> None:
    states = healthy_group(T0)
    for member in ("fal/" + MODEL, "vertex/" + MODEL):
        states[member] = feed(states[member], Outcome.SERVER_ERROR, at=T0)
    now = T0 + dt.timedelta(seconds=1)
    for member in MEMBERS:
        fate = view(member, states, POLICY, now)
        assert fate.group_failing
        plan = plan_generate(states[member], CADENCE, now, INTERVAL, fate)
        assert plan.purpose == Purpose.CONFIRM
        # the failing ones confirm within seconds, the rest at once
        assert plan.delay_s(now) <= CADENCE.generate_group_confirm_s, member


def test_a_member_that_probed_since_the_failure_is_not_asked_again() -> None:
    states = healthy_group(T0)
    states["fal/" + MODEL] = feed(states["fal/" + MODEL], Outcome.SERVER_ERROR, at=T0)
    asked = confirmers_of("fal/" + MODEL, states, POLICY)[0]
    later = T0 + dt.timedelta(seconds=20)
    states[asked] = feed(states[asked], Outcome.OK, at=later)
    assert view(asked, states, POLICY, later).confirm_since is None


def test_staggered_members_fill_the_group_s_slots() -> None:
    assert group_interval([100.0, 100.0, 50.0]) == 25.0
    slot = stagger_at(T0, [INTERVAL] * 5)
    assert slot == T0 + dt.timedelta(seconds=INTERVAL / 5)
    state = feed(HealthState(), Outcome.OK, at=T0 - dt.timedelta(seconds=INTERVAL * 0.6))
    fate = view("fal/" + MODEL, {"fal/" + MODEL: state}, POLICY, T0, stagger=slot)
    # due in 0.4 intervals, but probing early by a share of it is allowed: it takes the slot
    taken = plan_generate(state, CADENCE, T0, INTERVAL, fate).at
    assert abs((taken - slot).total_seconds()) <= 0.5
    just_probed = feed(HealthState(), Outcome.OK, at=T0)
    fate = view("fal/" + MODEL, {"fal/" + MODEL: just_probed}, POLICY, T0, stagger=slot)
    soonest = INTERVAL * (1 - CADENCE.stagger_early_share)
    assert plan_generate(just_probed, CADENCE, T0, INTERVAL, fate).delay_s(T0) == soonest


def test_verdict_tells_an_upstream_outage_from_a_single_provider() -> None:
    states = healthy_group(T0)
    assert verdict(states) == (Verdict.NONE, ())
    fal = feed(states["fal/" + MODEL], *[Outcome.SERVER_ERROR] * 4, at=T0)
    assert verdict(states | {"fal/" + MODEL: fal}) == (Verdict.SINGLE, ("fal/" + MODEL,))
    vertex = feed(states["vertex/" + MODEL], *[Outcome.SERVER_ERROR] * 4, at=T0)
    both = states | {"fal/" + MODEL: fal, "vertex/" + MODEL: vertex}
    assert verdict(both) == (Verdict.UPSTREAM, ("fal/" + MODEL, "vertex/" + MODEL))


def test_a_feed_incident_asks_one_early_probe_and_decides_nothing() -> None:
    state = feed(HealthState(), Outcome.OK, at=T0 - dt.timedelta(minutes=5))
    fate = view("vertex/" + MODEL, {"vertex/" + MODEL: state}, POLICY, T0, feed_since=T0)
    plan = plan_generate(state, CADENCE, T0, INTERVAL, fate)
    assert plan.at == T0 and plan.purpose == Purpose.CONFIRM and "feed" in plan.reason
    checked = feed(state, Outcome.OK, at=T0 + dt.timedelta(seconds=9))
    fate = view("vertex/" + MODEL, {"vertex/" + MODEL: checked}, POLICY, T0, feed_since=T0)
    later = T0 + dt.timedelta(seconds=10)
    assert plan_generate(checked, CADENCE, later, INTERVAL, fate).purpose == Purpose.REGULAR
    assert checked.state.value == "up"


def test_the_most_overdue_member_takes_a_shared_slot_first() -> None:
    slot = T0 + dt.timedelta(seconds=60)
    overdue = feed(HealthState(), Outcome.OK, at=T0 - dt.timedelta(seconds=INTERVAL))
    barely = feed(HealthState(), Outcome.OK, at=T0 - dt.timedelta(seconds=INTERVAL * 0.8))
    plans = {
        name: plan_generate(
            s, CADENCE, T0, INTERVAL, view(name, {name: s}, POLICY, T0, stagger=slot)
        )
        for name, s in (("overdue", overdue), ("barely", barely))
    }
    assert plans["overdue"].at < plans["barely"].at
