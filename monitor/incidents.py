"""Incidents: each spell of an offering in a bad state (degraded, down, retired) is one,
opened and closed by state changes (:func:`incident_events`); the writer stores them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from monitor.health_model import BAD, HealthState, State


class IncidentAction(StrEnum):
    OPEN = "open"
    CLOSE = "close"


@dataclass(frozen=True, kw_only=True)
class IncidentEvent:
    action: IncidentAction
    offering: str
    vantage: str
    state: State
    reason: str
    at: dt.datetime


def incident_events(
    offering: str, vantage: str, before: HealthState, after: HealthState
) -> list[IncidentEvent]:
    """Open/close events for one state change: each spell in a bad state (degraded, down,
    retired) is one incident, so degraded -> down closes one and opens the next."""
    if before.state == after.state:
        return []
    at = after.since or dt.datetime.now(dt.UTC)
    events = []
    if before.state in BAD:
        events.append(
            IncidentEvent(
                action=IncidentAction.CLOSE,
                offering=offering,
                vantage=vantage,
                state=before.state,
                reason=after.reason,
                at=at,
            )
        )
    if after.state in BAD:
        events.append(
            IncidentEvent(
                action=IncidentAction.OPEN,
                offering=offering,
                vantage=vantage,
                state=after.state,
                reason=after.reason,
                at=at,
            )
        )
    return events


# -- upstream groups (issue 17): one incident for the group, members linked to it -----------

#: a group incident is stored as an incident of this pseudo-offering: ``upstream/<group>``
#: (no schema change; the group's name comes from the catalog, never from a provider)
UPSTREAM_PREFIX = "upstream/"


def group_offering(group: str) -> str:
    return f"{UPSTREAM_PREFIX}{group}"


def group_events(
    group: str, vantage: str, open_now: bool, down: tuple[str, ...], at: dt.datetime
) -> list[IncidentEvent]:
    """Open or close the group's incident: ``down`` are its members down together when the
    verdict is an upstream outage (empty otherwise); ``open_now`` whether it is open."""
    if bool(down) == open_now:
        return []
    providers = sorted({o.split("/", 1)[0] for o in down})
    reason = (
        f"upstream outage: {len(providers)} providers down together ({', '.join(providers)}); "
        f"offerings: {', '.join(sorted(down))}"
        if down
        else "upstream outage over: fewer than the group's threshold still down"
    )
    action = IncidentAction.OPEN if down else IncidentAction.CLOSE
    return [
        IncidentEvent(
            action=action,
            offering=group_offering(group),
            vantage=vantage,
            state=State.DOWN,
            reason=reason,
            at=at,
        )
    ]


@dataclass(frozen=True, kw_only=True)
class Spell:
    """One stored incident as :func:`links` reads it."""

    offering: str
    started_at: dt.datetime
    ended_at: dt.datetime | None


def links(spells: list[Spell], upstream_of: dict[str, str]) -> list[str | None]:
    """For each spell, the group incident (``upstream/<group>``) it belongs to: one of its
    offering's upstream that overlaps it in time; None for a single provider's own."""
    groups = [s for s in spells if s.offering.startswith(UPSTREAM_PREFIX)]
    out: list[str | None] = []
    for spell in spells:
        name = upstream_of.get(spell.offering)
        found = None
        if name is not None:
            for g in groups:
                if g.offering == group_offering(name) and _overlap(g, spell):
                    found = g.offering
                    break
        out.append(found)
    return out


def _overlap(a: Spell, b: Spell) -> bool:
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    a_end = _aware(a.ended_at) if a.ended_at else far
    b_end = _aware(b.ended_at) if b.ended_at else far
    return _aware(a.started_at) <= b_end and _aware(b.started_at) <= a_end


def _aware(t: dt.datetime) -> dt.datetime:
    # SQLite hands back naive UTC datetimes
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)
