"""Shared fate: offerings that share an upstream are watched as a group. Pure.

An *upstream* is what several offerings depend on together: one model family served by
several resellers (Imagen 4 at Vertex AI, the Gemini API, fal, Replicate and an
aggregator), or one provider. The catalog declares it per model (``upstream``, default
the model's ``family``); :func:`groups` turns that into groups of offerings.

Three decisions, all functions over the members' :class:`~monitor.health.HealthState`:

- **sibling confirmation** (:func:`view`): when one member's paid probe fails, the
  members at the same provider and ``confirmers`` at other providers (the longest
  unprobed first) send an early paid probe now; once members at ``group_failing``
  providers fail together, every member confirms now and then every
  ``generate_group_confirm_s`` — failed probes are not billed, so an upstream outage is
  confirmed everywhere within seconds at no cost;
- **staggering** (:func:`stagger_at`): members' regular paid probes fill the group's
  slots, one every ``1 / sum(1 / I)`` seconds (``I``: each member's budget interval), so
  the group as a whole samples that often instead of all members in the same minute;
- **verdict** (:func:`verdict`): members down at two or more providers are an upstream
  outage (one incident for the group); down at one provider only, a single provider's.

A status-feed incident (:mod:`monitor.feeds`) enters as ``feed_since``: it asks for one
early paid probe and never changes a state by itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from monitor.health import HealthState, State


@dataclass(frozen=True, kw_only=True)
class FatePolicy:
    #: siblings asked to confirm one member's first failure
    confirmers: int = 3
    #: providers with members failing together that make the whole group confirm
    group_failing: int = 2
    #: a failure this old no longer counts as "failing now"
    failing_window_s: float = 600.0
    #: providers with members down that make an outage an upstream one
    upstream_providers: int = 2


@dataclass(frozen=True, kw_only=True)
class FateView:
    """What the group asks of one member's next paid probe (see :func:`view`)."""

    #: a sibling's first failure this member should confirm (None: nothing to confirm)
    confirm_since: dt.datetime | None = None
    #: several members fail together: confirm quickly
    group_failing: bool = False
    #: the earliest time the member's regular probe keeps the group staggered
    stagger_at: dt.datetime | None = None
    #: an active status-feed incident covering the member, since (None: none)
    feed_since: dt.datetime | None = None


class Verdict(StrEnum):
    NONE = "none"
    SINGLE = "single_provider"
    UPSTREAM = "upstream"


def provider_of(offering: str) -> str:
    """An offering id is ``provider/model``."""
    return offering.split("/", 1)[0]


def groups(upstream_of: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """Offerings by upstream, each group sorted (``upstream_of``: offering -> upstream)."""
    out: dict[str, list[str]] = {}
    for offering, upstream in upstream_of.items():
        out.setdefault(upstream, []).append(offering)
    return {name: tuple(sorted(members)) for name, members in out.items()}


def _failing_at(state: HealthState, now: dt.datetime, window_s: float) -> dt.datetime | None:
    """When a member in a fresh failure streak last failed; None when it is not in one.
    A member already ``down`` is known: it counts in the verdict, not as a new alarm."""
    tier = state.generate
    if tier.last_at is None or (now - tier.last_at).total_seconds() > window_s:
        return None
    if tier.failures and tier.state != State.DOWN:
        return tier.last_at
    return None


def _paid(state: HealthState) -> dt.datetime:
    return state.last_paid_at or dt.datetime.min.replace(tzinfo=dt.UTC)


def confirmers_of(
    failing: str, states: Mapping[str, HealthState], policy: FatePolicy
) -> tuple[str, ...]:
    """The siblings asked to confirm ``failing``'s first failure: every member at the same
    provider (a single provider's outage is likely theirs too) and ``confirmers`` at other
    providers, the one whose last paid probe is oldest first (the stalest evidence)."""
    home = provider_of(failing)
    same = [m for m in states if m != failing and provider_of(m) == home]
    others = sorted(
        (m for m in states if provider_of(m) != home), key=lambda m: (_paid(states[m]), m)
    )
    return (*same, *others[: policy.confirmers])


@dataclass(frozen=True, kw_only=True)
class Pressure:
    """The group's failures now: members in a fresh failure streak (last failure time)
    and whether they span ``group_failing`` providers. Computed once, read per member."""

    failing: Mapping[str, dt.datetime]
    together: bool


def pressure(states: Mapping[str, HealthState], policy: FatePolicy, now: dt.datetime) -> Pressure:
    failing = {
        m: at
        for m, s in states.items()
        if (at := _failing_at(s, now, policy.failing_window_s)) is not None
    }
    # failures at several providers at once point at what they share, not at one of them
    together = len({provider_of(m) for m in failing}) >= policy.group_failing
    return Pressure(failing=failing, together=together)


def view(
    member: str,
    states: Mapping[str, HealthState],
    policy: FatePolicy,
    now: dt.datetime,
    *,
    stagger: dt.datetime | None = None,
    feed_since: dt.datetime | None = None,
    group: Pressure | None = None,
) -> FateView:
    """What the group asks of ``member`` now. ``states`` holds every member of its group
    (``member`` included); a group of one asks nothing of it but the stagger and feed.
    ``group`` is :func:`pressure` over the same states, when the caller has it."""
    group = group or pressure(states, policy, now)
    mine = states.get(member, HealthState())
    confirm: dt.datetime | None = None
    if group.together:
        confirm = min(group.failing.values())
    else:
        for other, at in group.failing.items():
            first = states[other].generate.failures == 1
            if other != member and first and member in confirmers_of(other, states, policy):
                confirm = at if confirm is None else min(confirm, at)
    if confirm is not None and _paid(mine) >= confirm:
        confirm = None  # already probed since: its own streak decides now
    return FateView(
        confirm_since=confirm,
        group_failing=group.together,
        stagger_at=stagger,
        feed_since=feed_since,
    )


def group_interval(intervals: Iterable[float]) -> float:
    """Seconds between paid probes of the group when each member probes every ``I``."""
    rate = sum(1.0 / i for i in intervals if i > 0)
    return 1.0 / rate if rate else 0.0


def stagger_at(last_sent: dt.datetime | None, intervals: Iterable[float]) -> dt.datetime | None:
    """The earliest next regular paid probe of any member: one group interval after the
    group's last paid probe was sent (None: nothing sent yet)."""
    if last_sent is None:
        return None
    return last_sent + dt.timedelta(seconds=group_interval(intervals))


def verdict(
    states: Mapping[str, HealthState], policy: FatePolicy | None = None
) -> tuple[Verdict, tuple[str, ...]]:
    """The group's outage verdict and the members it covers (down, by id)."""
    policy = policy or FatePolicy()
    down = tuple(sorted(m for m, s in states.items() if s.state == State.DOWN))
    providers = {provider_of(m) for m in down}
    if not down:
        return Verdict.NONE, ()
    if len(providers) >= policy.upstream_providers:
        return Verdict.UPSTREAM, down
    return Verdict.SINGLE, down
