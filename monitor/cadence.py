"""Adaptive cadence: when to send the next control and paid generate probe. Pure.

Two tiers. Free ``control`` probes run often (30 s); a control failure is re-probed at
once (``control_confirm_s``), so a hard outage is ``down`` about a second after the first
failed control probe. Paid ``generate`` probes run at the interval the budget allows (see
:mod:`monitor.budget`), backing off while generation is stable; a suspect generate sample
(failed, or slower than the latency objective) brings an early paid probe that draws on
the budget's confirm slice (:attr:`Purpose.CONFIRM`). Failed paid probes are not billed,
so looking for a recovery while generation is down costs a reservation, not money.

The live scheduler and ``bench/detection.py`` call the same functions: after every sample
of an offering, ask :func:`plan_control` and :func:`plan_generate` and move the job's
next run time to ``plan.at`` (APScheduler 3: ``job.modify(next_run_time=plan.at)``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from monitor.budget import Purpose
from monitor.fate import FateView
from monitor.health import HealthState, State
from monitor.interfaces import Kind


@dataclass(frozen=True, kw_only=True)
class CadencePolicy:
    control_interval_s: float = 30.0
    #: re-probe this soon after a control failure: free, and it makes detection fast
    control_confirm_s: float = 0.25
    #: while control is down: look for the recovery this often
    control_down_s: float = 5.0
    control_retired_s: float = 600.0
    generate_min_interval_s: float = 900.0
    generate_max_interval_s: float = 4 * 3600.0
    #: an early (confirm) paid probe this long after a suspect generate sample
    generate_confirm_s: float = 30.0
    #: ... and this share of it after a failed one: failed probes are not billed, and the
    #: ``fail_threshold`` failures of an outage then span 45 s rather than 90 s
    generate_fail_confirm_share: float = 0.5
    #: while generation is down: paid probes this often (failed ones are not billed)
    generate_down_s: float = 120.0
    #: confirm this fast while several members of the offering's upstream fail together
    generate_group_confirm_s: float = 2.0
    #: how much of its regular interval a group member may probe early to fill the
    #: group's next slot (:func:`monitor.fate.stagger_at`)
    stagger_early_share: float = 0.75
    #: stable paid probes in a row before each back-off step (0: never), and its factor.
    #: Off by default: the budget already bounds the spend, and backing off to the upper
    #: bound made a generation-only outage take 1.5 h at p95 to see (issue 17)
    backoff_after: int = 0
    backoff_factor: float = 1.5
    #: while degraded (slow or erring): a paid probe this often, from the recover purpose
    #: (the end of a slowdown is only proven by a billed image, issue 17): just under the
    #: 900 s recovery objective, which wider spacing would miss and closer spacing would
    #: not help while spending the day's money. Never faster than ``degraded_brake_share``
    #: of the budget's pace, which is re-read from the money left after every probe, so a
    #: long slowdown slows its own probing instead of running the money out before midnight
    generate_degraded_s: float = 850.0
    degraded_brake_share: float = 0.4
    #: passive samples this recent stand in for paid confirmation and regular probes
    passive_fresh_s: float = 600.0
    #: longest wait between probes while the provider answers 429
    rate_limited_max_s: float = 600.0

    def __post_init__(self) -> None:
        if self.generate_min_interval_s > self.generate_max_interval_s:
            raise ValueError("generate_min_interval_s is above generate_max_interval_s")


@dataclass(frozen=True, kw_only=True)
class Plan:
    """The next probe of one kind: when, from which budget slice, and why."""

    at: dt.datetime
    purpose: Purpose = Purpose.REGULAR
    reason: str = ""

    def delay_s(self, now: dt.datetime) -> float:
        return max(0.0, (self.at - now).total_seconds())


def _after(last: dt.datetime | None, seconds: float, now: dt.datetime) -> dt.datetime:
    # nothing sent yet: probe now (the scheduler spreads first runs itself)
    if last is None:
        return now
    return max(now, last + dt.timedelta(seconds=seconds))


def _rate_limited_wait(health: HealthState, interval: float, policy: CadencePolicy) -> float:
    # a 429 is not a failure, but hammering a quota makes it worse: double per refusal
    return min(policy.rate_limited_max_s, interval * 2.0**health.consecutive_rate_limited)


def plan_control(health: HealthState, policy: CadencePolicy, now: dt.datetime) -> Plan:
    """When to send the next free control probe."""
    tier, last = health.control, health.last_control_at
    if health.consecutive_rate_limited and health.last_outcome is not None:
        wait = _rate_limited_wait(health, policy.control_interval_s, policy)
        return Plan(at=_after(last, wait, now), reason="rate limited: backing off")
    if tier.state == State.RETIRED:
        return Plan(at=_after(last, policy.control_retired_s, now), reason="model retired")
    if tier.state == State.DOWN and not tier.successes:
        return Plan(at=_after(last, policy.control_down_s, now), reason="down: watching")
    if tier.suspect or (tier.state == State.DOWN and tier.successes):
        return Plan(at=_after(last, policy.control_confirm_s, now), reason="confirming")
    return Plan(at=_after(last, policy.control_interval_s, now), reason="regular")


def regular_generate_interval(
    health: HealthState, policy: CadencePolicy, budget_interval_s: float
) -> float:
    """Seconds between regular paid probes: the budget's interval within the bounds,
    stretched by ``backoff_factor`` per ``backoff_after`` stable probes, and the longest
    bound while fresh passive traffic shows generation working."""
    low, high = policy.generate_min_interval_s, policy.generate_max_interval_s
    base = min(high, max(low, budget_interval_s))
    tier = health.generate
    if tier.state != State.UP:
        return base
    steps = tier.successes // policy.backoff_after if policy.backoff_after > 0 else 0
    return min(high, base * policy.backoff_factor ** min(steps, 32))


def _passive_fresh(health: HealthState, policy: CadencePolicy, now: dt.datetime) -> bool:
    seen = health.last_passive_at
    return seen is not None and (now - seen).total_seconds() <= policy.passive_fresh_s


def plan_generate(
    health: HealthState,
    policy: CadencePolicy,
    now: dt.datetime,
    budget_interval_s: float,
    fate: FateView | None = None,
) -> Plan:
    """When to send the next paid generate probe, and from which budget slice.

    ``budget_interval_s`` is what the budget allows for regular probes of this offering
    (:meth:`monitor.budget.Budget.regular_interval`). The caller still reserves money for
    the probe; a refused reservation is a skipped probe (reason ``budget``). ``fate`` is
    what the offering's upstream group and status feeds ask (:func:`monitor.fate.view`).
    """
    control, tier, last = health.control, health.generate, health.last_paid_at
    passive = _passive_fresh(health, policy, now)
    regular = regular_generate_interval(health, policy, budget_interval_s)
    if control.state in (State.DOWN, State.RETIRED):
        # every paid probe would fail too; control probes watch for the recovery
        wait = policy.generate_max_interval_s
        return Plan(at=_after(last, wait, now), reason=f"control {control.state}: paused")
    if health.consecutive_rate_limited and health.last_outcome is not None:
        wait = _rate_limited_wait(health, regular, policy)
        return Plan(at=_after(last, wait, now), reason="rate limited: backing off")
    if tier.state == State.RETIRED:
        wait = policy.generate_max_interval_s
        return Plan(at=_after(last, wait, now), reason="model retired")
    # the group and the feeds first: fresh passive traffic at one member says little
    # about a failure its siblings just saw
    early = _fate_plan(health, policy, now, fate) if fate is not None else None
    if early is not None:
        return early
    if passive and tier.state == State.UP and not tier.suspect:
        # a real generation that worked is as good a sample as a paid one: the next paid
        # probe is due a regular interval after the later of the two
        seen = max(last or now, health.last_passive_at or now)
        at = _stagger(_after(seen, regular, now), seen, regular, policy, now, fate)
        return Plan(at=at, reason="passive traffic shows generation")
    confirm = _confirm_wait(health, policy)
    if confirm is not None and tier.state == State.DOWN:
        return Plan(at=_after(last, confirm, now), purpose=Purpose.RECOVER, reason="down: watching")
    # fresh passive traffic stands in for a confirmation only when it shows generation
    # working: failing passive samples are a claim a probe must confirm (issue 13), and a
    # failure streak or an outage is confirmed by a probe too (issue 17)
    if confirm is not None and (
        not passive or health.passive_suspect or tier.failures or tier.state == State.DOWN
    ):
        return Plan(at=_after(last, confirm, now), purpose=Purpose.CONFIRM, reason="confirming")
    if tier.state == State.DEGRADED:
        # sooner than regular where the budget's pace allows, never later than regular
        brake = budget_interval_s * policy.degraded_brake_share
        wait = min(regular, max(policy.generate_degraded_s, brake))
        return Plan(
            at=_after(last, wait, now),
            purpose=Purpose.RECOVER,
            reason="degraded: watching for the end",
        )
    at = _after(last, regular, now)
    if tier.state == State.UP:
        at = _stagger(at, last, regular, policy, now, fate)
    return Plan(at=at, reason="regular")


def _stagger(
    at: dt.datetime,
    last: dt.datetime | None,
    regular: float,
    policy: CadencePolicy,
    now: dt.datetime,
    fate: FateView | None,
) -> dt.datetime:
    """The group's next slot instead of our own turn: later if a sibling just probed, or
    up to ``stagger_early_share`` of our interval earlier to fill a gap in the group's
    sampling (the budget's pacing evens out what an early probe spends)."""
    if fate is None or fate.stagger_at is None:
        return at
    soonest = _after(last, regular * (1 - policy.stagger_early_share), now)
    # members eligible for the same slot: the one whose own turn is earliest goes first
    # (within a second), so no member is starved of slots by the others
    tie = max(-0.5, min(0.5, (at - fate.stagger_at).total_seconds() * 1e-3))
    return max(soonest, fate.stagger_at + dt.timedelta(seconds=tie))


def _fate_plan(
    health: HealthState, policy: CadencePolicy, now: dt.datetime, fate: FateView
) -> Plan | None:
    """An early paid probe the offering's group or a status feed asks for (see
    :mod:`monitor.fate`): one probe per sibling failure or feed incident, then the
    offering's own streak decides; a feed incident alone never changes a state."""
    tier, last = health.generate, health.last_paid_at
    if tier.state == State.DOWN:
        return None
    if fate.group_failing and tier.failures:
        wait = policy.generate_group_confirm_s
        return Plan(at=_after(last, wait, now), purpose=Purpose.CONFIRM, reason="group failing")
    if fate.confirm_since is not None:
        return Plan(at=now, purpose=Purpose.CONFIRM, reason="confirming a sibling's failure")
    feed = fate.feed_since
    if feed is not None and (last is None or last < feed):
        return Plan(at=now, purpose=Purpose.CONFIRM, reason="status feed incident")
    return None


def _confirm_wait(health: HealthState, policy: CadencePolicy) -> float | None:
    tier, control = health.generate, health.control
    if tier.state == State.DOWN:
        return policy.generate_confirm_s if tier.successes else policy.generate_down_s
    if tier.state == State.DEGRADED and tier.recovering:
        # a fast answer after a slowdown: one more ends it (monitor.health), so confirm it
        # now rather than a regular interval later
        return policy.generate_confirm_s
    if tier.failures:
        # a failure streak on its way to the threshold: confirm it (the budget's confirm
        # slice bounds what a partial outage can make this spend)
        return policy.generate_confirm_s * policy.generate_fail_confirm_share
    if (tier.suspect or any(tier.slow)) and tier.state in (State.UP, State.UNKNOWN):
        # slow but answering (a fast answer amid slow ones does not end the doubt); once
        # degraded is known, the degraded cadence follows it
        return policy.generate_confirm_s
    # two control failures in a row and not yet down: does generation still work?
    if control.failures >= 2 and (health.last_paid_at or _EPOCH) < (control.last_at or _EPOCH):
        return 0.0
    return None


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def next_generate_delay(
    health: HealthState, policy: CadencePolicy, now: dt.datetime, budget_interval_s: float
) -> float:
    """Seconds from ``now`` to the next paid probe (:func:`plan_generate`)."""
    return plan_generate(health, policy, now, budget_interval_s).delay_s(now)


def plan(
    kind: Kind,
    health: HealthState,
    policy: CadencePolicy,
    now: dt.datetime,
    budget_interval_s: float = 0.0,
    fate: FateView | None = None,
) -> Plan:
    """:func:`plan_control` or :func:`plan_generate` by probe kind."""
    if kind == Kind.CONTROL:
        return plan_control(health, policy, now)
    return plan_generate(health, policy, now, budget_interval_s, fate)
