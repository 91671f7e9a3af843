"""Fake provider status feeds: Atlassian Statuspage and Google Cloud's incidents.json.

- ``GET /status/{page}/api/v2/summary.json`` and ``.../incidents.json``: a Statuspage
  page (shape as documented on every page's ``/api``, e.g. https://metastatuspage.com/api:
  ``page``, ``status{indicator, description}``, ``components[]``, unresolved
  ``incidents[]`` with ``incident_updates[]`` and ``components[]``,
  ``scheduled_maintenances[]``);
- ``GET /status/google/incidents.json``: Google Cloud's bare array of incidents
  (https://status.cloud.google.com/incidents.schema.json: ``begin``, ``end`` absent while
  open, ``severity``, ``status_impact``, ``affected_products[{title, id}]``,
  ``most_recent_update``).

A feed says what it is told, true or not: ``POST /_sim/feeds/{page}`` (control, same
guard as ``/_sim``) with ``{"name", "components": [...], "impact"}`` opens an incident,
``DELETE /_sim/feeds/{page}`` resolves them, ``{"broken": true}`` makes the page answer
truncated JSON. A lying feed is the test's choice: an incident while nothing is wrong,
or no incident during an injected outage.
"""

from __future__ import annotations

import datetime as dt
import hmac
import itertools
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from monitor.sim._common import Sim

GOOGLE = "google"
_IMPACTS_ORDER = ("none", "minor", "major", "critical")
_IMPACTS = set(_IMPACTS_ORDER)
_SEVERITY = {"none": "low", "minor": "low", "major": "medium", "critical": "high"}
_COMPONENT_STATUS = {
    "none": "operational",
    "minor": "degraded_performance",
    "major": "partial_outage",
    "critical": "major_outage",
}


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class _Incident:
    id: str
    name: str
    impact: str
    components: list[str]
    started_at: str
    resolved_at: str | None = None


@dataclass
class _Page:
    components: list[str] = field(default_factory=list)
    incidents: list[_Incident] = field(default_factory=list)
    broken: bool = False

    def open(self) -> list[_Incident]:
        return [i for i in self.incidents if i.resolved_at is None]


_ids = itertools.count(1)


def _component(page: str, name: str, status: str, position: int) -> dict[str, Any]:
    return {
        "id": f"{page}-c{position}",
        "name": name,
        "status": status,
        "created_at": "2025-01-01T00:00:00.000Z",
        "updated_at": _now(),
        "position": position,
        "description": None,
        "showcase": True,
        "start_date": None,
        "group_id": None,
        "page_id": page,
        "group": False,
        "only_show_if_degraded": False,
    }


def _statuspage_incident(page: str, inc: _Incident) -> dict[str, Any]:
    status = "resolved" if inc.resolved_at else "investigating"
    update = {
        "id": f"{inc.id}-u1",
        "status": status,
        "body": inc.name,
        "incident_id": inc.id,
        "created_at": inc.started_at,
        "updated_at": inc.resolved_at or inc.started_at,
        "display_at": inc.started_at,
    }
    return {
        "id": inc.id,
        "name": inc.name,
        "status": status,
        "created_at": inc.started_at,
        "updated_at": inc.resolved_at or inc.started_at,
        "monitoring_at": None,
        "resolved_at": inc.resolved_at,
        "impact": inc.impact,
        "shortlink": f"https://stspg.io/{inc.id}",
        "started_at": inc.started_at,
        "page_id": page,
        "incident_updates": [update],
        "components": [
            _component(page, name, _COMPONENT_STATUS[inc.impact], n)
            for n, name in enumerate(inc.components)
        ],
    }


def _google_incident(inc: _Incident) -> dict[str, Any]:
    impact = "SERVICE_OUTAGE" if inc.impact == "critical" else "SERVICE_DISRUPTION"
    update = {
        "created": inc.started_at,
        "modified": inc.resolved_at or inc.started_at,
        "when": inc.started_at,
        "text": inc.name,
        "status": "AVAILABLE" if inc.resolved_at else impact,
        "affected_locations": [{"title": "Global", "id": "global"}],
    }
    body: dict[str, Any] = {
        "id": inc.id,
        "number": inc.id.removeprefix("sim"),
        "begin": inc.started_at,
        "created": inc.started_at,
        "modified": inc.resolved_at or inc.started_at,
        "external_desc": inc.name,
        "updates": [update],
        "most_recent_update": update,
        "status_impact": impact,
        "severity": _SEVERITY[inc.impact],
        "service_key": "vertex-ai",
        "service_name": "Vertex Gemini API",
        "affected_products": [{"title": c, "id": c} for c in inc.components],
        "uri": f"incidents/{inc.id}",
        "currently_affected_locations": []
        if inc.resolved_at
        else [{"title": "Global", "id": "global"}],
        "previously_affected_locations": [],
    }
    if inc.resolved_at:
        body["end"] = inc.resolved_at
    return body


def routes(sim: Sim) -> list[Route]:
    pages: dict[str, _Page] = {}

    def page_of(name: str) -> _Page:
        return pages.setdefault(name, _Page())

    def guard(request: Request) -> Response | None:
        if not sim.control_enabled:
            return JSONResponse({"detail": "simulator control is disabled"}, status_code=404)
        if sim.control_token:
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), sim.control_token.encode()):
                return JSONResponse({"detail": "control token required"}, status_code=401)
        return None

    def answer(page: _Page, body: Any) -> Response:
        if page.broken:
            return Response(b'{"page": {"id": "tr', media_type="application/json")
        return JSONResponse(body)

    def statuspage_head(name: str) -> dict[str, Any]:
        return {
            "id": name,
            "name": name,
            "url": f"https://status.{name}.example",
            "time_zone": "Etc/UTC",
            "updated_at": _now(),
        }

    async def summary(request: Request) -> Response:
        name = request.path_params["page"]
        page = page_of(name)
        open_ = page.open()
        worst = max((i.impact for i in open_), key=_IMPACTS_ORDER.index, default="none")
        hit = {c: i.impact for i in open_ for c in i.components}
        names = list(dict.fromkeys([*page.components, *hit]))
        return answer(
            page,
            {
                "page": statuspage_head(name),
                "status": {
                    "indicator": worst,
                    "description": "All Systems Operational" if not open_ else "Partial Outage",
                },
                "components": [
                    _component(name, c, _COMPONENT_STATUS[hit.get(c, "none")], n)
                    for n, c in enumerate(names)
                ],
                "incidents": [_statuspage_incident(name, i) for i in open_],
                "scheduled_maintenances": [],
            },
        )

    async def incidents(request: Request) -> Response:
        name = request.path_params["page"]
        page = page_of(name)
        latest = list(reversed(page.incidents))[:50]
        return answer(
            page,
            {
                "page": statuspage_head(name),
                "incidents": [_statuspage_incident(name, i) for i in latest],
            },
        )

    async def google(request: Request) -> Response:
        page = page_of(GOOGLE)
        return answer(page, [_google_incident(i) for i in reversed(page.incidents)])

    async def post(request: Request) -> Response:
        if (denied := guard(request)) is not None:
            return denied
        page = page_of(request.path_params["page"])
        try:
            data = await request.json()
            if data.get("broken") is not None:
                page.broken = bool(data["broken"])
                return JSONResponse({"broken": page.broken})
            if data.get("components_known") is not None:
                page.components = [str(c) for c in data["components_known"]]
                return JSONResponse({"components": page.components})
            impact = str(data.get("impact", "major"))
            if impact not in _IMPACTS:
                raise ValueError(f"impact must be one of {sorted(_IMPACTS)}")
            inc = _Incident(
                id=f"sim{next(_ids):06d}",
                name=str(data["name"]),
                impact=impact,
                components=[str(c) for c in data.get("components", [])],
                started_at=_now(),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return JSONResponse({"detail": f"bad incident: {exc}"}, status_code=422)
        page.incidents.append(inc)
        return JSONResponse({"id": inc.id, "started_at": inc.started_at})

    async def resolve(request: Request) -> Response:
        if (denied := guard(request)) is not None:
            return denied
        page = page_of(request.path_params["page"])
        for inc in page.open():
            inc.resolved_at = _now()
        return JSONResponse({"resolved": True})

    return [
        Route("/status/google/incidents.json", google, methods=["GET"]),
        Route("/status/{page}/api/v2/summary.json", summary, methods=["GET"]),
        Route("/status/{page}/api/v2/incidents.json", incidents, methods=["GET"]),
        Route("/_sim/feeds/{page}", post, methods=["POST"]),
        Route("/_sim/feeds/{page}", resolve, methods=["DELETE"]),
    ]
