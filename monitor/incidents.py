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
