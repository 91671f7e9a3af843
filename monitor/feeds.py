"""Provider status feeds: pure parsers and the suspicion they raise.

Two public shapes:

- Atlassian Statuspage, ``/api/v2/summary.json`` (components with their status, the
  unresolved incidents) and ``/api/v2/incidents.json`` (the latest incidents, resolved
  ones included). Incident ``status`` is investigating / identified / monitoring /
  resolved / postmortem, ``impact`` none / minor / major / critical (maintenance on some
  pages); component ``status`` operational / degraded_performance / partial_outage /
  major_outage / under_maintenance. Documented on every page's ``/api`` (e.g.
  https://metastatuspage.com/api, https://confluence.status.atlassian.com/api).
- Google Cloud's ``https://status.cloud.google.com/incidents.json``: a bare array of
  incidents with ``id``, ``begin``, ``end`` (absent or null while open), ``external_desc``,
  ``severity`` low / medium / high, ``status_impact`` (SERVICE_OUTAGE,
  SERVICE_DISRUPTION, SERVICE_INFORMATION), ``affected_products[{title, id}]``
  (schema: https://status.cloud.google.com/incidents.schema.json).

A feed is a *claim*: :func:`suspicion` turns its active incidents into "confirm these
offerings now" (an early paid probe, :mod:`monitor.fate`), a board annotation and a line
on the status page. It never makes an offering ``down``: feeds lag real outages, stay
silent through some and post incidents while nothing is wrong.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field


class FeedKind(StrEnum):
    STATUSPAGE = "statuspage"
    GOOGLE_CLOUD = "google_cloud"


class StatusFeedConfig(BaseModel):
    """``status_feeds.<name>`` in the config: where a feed is, its shape, and which
    offerings each of its components (name or id, as the feed spells it) serves."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: FeedKind
    url: Annotated[str, Field(pattern=r"^https?://")]
    interval_seconds: Annotated[float, Field(ge=10, le=3600)] = 60.0
    components: dict[str, tuple[str, ...]]
    #: overrides applied when the catalog is pointed at the simulator (``${SIM}``)
    simulated: dict[str, Any] = Field(default_factory=dict)

    def pairs(self) -> list[tuple[str, str]]:
        return [(c, o) for c, offerings in self.components.items() for o in offerings]


class FeedError(ValueError):
    """A feed body that is not the shape its kind publishes (one line, no body echoed)."""


#: Statuspage incident states after which an incident is over
_CLOSED = frozenset({"resolved", "postmortem", "completed"})
#: Statuspage component states that are not an incident
_FINE = frozenset({"operational", "under_maintenance"})
#: Google Cloud impacts that are notices, not disruptions
_NOTICES = frozenset({"SERVICE_INFORMATION", "AVAILABLE_INFORMATION"})


@dataclass(frozen=True, kw_only=True)
class FeedIncident:
    """One incident as a feed publishes it; ``components`` are the names and ids it
    affects (Statuspage components, Google Cloud products)."""

    feed: str
    id: str
    name: str
    status: str
    impact: str
    started_at: dt.datetime
    resolved_at: dt.datetime | None = None
    components: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self.resolved_at is None and self.status not in _CLOSED and self.impact != "none"


def _load(feed: str, body: bytes | str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FeedError(f"status feed {feed!r}: not JSON ({type(exc).__name__})") from None


def _time(feed: str, value: Any, field: str) -> dt.datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise FeedError(f"status feed {feed!r}: {field} is not a timestamp")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FeedError(f"status feed {feed!r}: {field} is not an ISO 8601 timestamp") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _names(items: Any) -> tuple[str, ...]:
    out: list[str] = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            out.extend(v for k in ("name", "title", "id") if (v := _text(item.get(k))))
    return tuple(dict.fromkeys(out))


def parse_statuspage(feed: str, body: bytes | str) -> list[FeedIncident]:
    """Incidents from a Statuspage ``summary.json`` or ``incidents.json``. In a summary,
    a component that is degraded or out without an incident naming it counts as one
    (pages often flip a component before writing the incident)."""
    data = _load(feed, body)
    if not isinstance(data, dict) or not isinstance(data.get("incidents"), list):
        raise FeedError(f"status feed {feed!r}: expected an object with an 'incidents' list")
    out: list[FeedIncident] = []
    for raw in data["incidents"]:
        if not isinstance(raw, dict) or not _text(raw.get("id")):
            raise FeedError(f"status feed {feed!r}: an incident without an id")
        started = _time(feed, raw.get("started_at"), "started_at") or _time(
            feed, raw.get("created_at"), "created_at"
        )
        if started is None:
            raise FeedError(f"status feed {feed!r}: incident {raw['id']!r} has no start time")
        out.append(
            FeedIncident(
                feed=feed,
                id=raw["id"],
                name=_text(raw.get("name")),
                status=_text(raw.get("status")) or "investigating",
                impact=_text(raw.get("impact")) or "minor",
                started_at=started,
                resolved_at=_time(feed, raw.get("resolved_at"), "resolved_at"),
                components=_names(raw.get("components")),
            )
        )
    named = {c for i in out if i.active for c in i.components}
    for comp in data.get("components") or []:
        if not isinstance(comp, dict):
            continue
        status, ids = _text(comp.get("status")), _names([comp])
        if not status or status in _FINE or named.intersection(ids):
            continue
        since = _time(feed, comp.get("updated_at"), "updated_at")
        out.append(
            FeedIncident(
                feed=feed,
                id=f"component:{_text(comp.get('id'))}",
                name=f"{_text(comp.get('name'))}: {status}",
                status="investigating",
                impact="major" if status == "major_outage" else "minor",
                started_at=since or dt.datetime.min.replace(tzinfo=dt.UTC),
                components=ids,
            )
        )
    return out


def parse_google_cloud(feed: str, body: bytes | str) -> list[FeedIncident]:
    """Incidents from Google Cloud's ``incidents.json`` (notices are skipped)."""
    data = _load(feed, body)
    if not isinstance(data, list):
        raise FeedError(f"status feed {feed!r}: expected a list of incidents")
    out: list[FeedIncident] = []
    for raw in data:
        if not isinstance(raw, dict) or not _text(raw.get("id")):
            raise FeedError(f"status feed {feed!r}: an incident without an id")
        impact = _text(raw.get("status_impact"))
        if impact in _NOTICES:
            continue
        begin = _time(feed, raw.get("begin"), "begin")
        if begin is None:
            raise FeedError(f"status feed {feed!r}: incident {raw['id']!r} has no begin time")
        end = _time(feed, raw.get("end"), "end")
        recent = raw.get("most_recent_update")
        status = _text(recent.get("status")) if isinstance(recent, dict) else ""
        out.append(
            FeedIncident(
                feed=feed,
                id=raw["id"],
                name=_text(raw.get("external_desc")),
                status=status.lower() or ("resolved" if end else "investigating"),
                impact=_text(raw.get("severity")) or "medium",
                started_at=begin,
                resolved_at=end,
                components=_names(raw.get("affected_products")),
            )
        )
    return out


def parse(kind: FeedKind, feed: str, body: bytes | str) -> list[FeedIncident]:
    """The incidents in one feed body of ``kind``; :class:`FeedError` when malformed."""
    if kind == FeedKind.STATUSPAGE:
        return parse_statuspage(feed, body)
    return parse_google_cloud(feed, body)


def suspicion(
    incidents: Iterable[FeedIncident], components: Mapping[str, Sequence[str]]
) -> dict[str, dt.datetime]:
    """Offerings an active incident covers, with the incident's start: ``components`` maps
    a feed component (name or id, as the config declares it) to the offerings it serves.
    The result asks for an early paid confirmation; it is never a state."""
    out: dict[str, dt.datetime] = {}
    for incident in incidents:
        if not incident.active:
            continue
        for component in incident.components:
            for offering in components.get(component, ()):
                seen = out.get(offering)
                out[offering] = (
                    incident.started_at if seen is None else min(seen, incident.started_at)
                )
    return out
