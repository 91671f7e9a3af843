"""provmon's HTTP surface: ``/metrics``, ``/healthz``, ``/readyz`` and the JSON API."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)

from monitor import access, secrets
from monitor.exports import FORMATS, targets_from_config
from monitor.health import HealthState
from monitor.incidents import UPSTREAM_PREFIX, Spell, links
from monitor.interfaces import Kind, Outcome, ProbeResult
from monitor.metrics import CONTENT_TYPE, pieces
from monitor.passive import passive_router
from monitor.pipeline import Recent
from monitor.pricing.engine import ShowRow
from monitor.routing import PolicyName
from monitor.service import Service
from monitor.status import Notice, OfferingStatus, StatusData, render_status, summarise
from monitor.store import StoreError

#: set to ``away`` on answers served from memory while the database is away
DATABASE_HEADER = "X-Provmon-Database"


def result_json(result: ProbeResult) -> dict[str, Any]:
    return {
        "probe_id": result.probe_id,
        "offering": result.offering,
        "provider": result.provider,
        "model": result.model,
        "vantage": result.vantage,
        "kind": result.kind.value,
        "outcome": result.outcome.value,
        "started_at": result.started_at.isoformat(),
        "phases": {phase.value: round(sec, 6) for phase, sec in result.phases.items()},
        "failed_phase": result.failed_phase.value if result.failed_phase else None,
        "http_status": result.http_status,
        "provider_request_id": result.provider_request_id,
        "image": None
        if result.image is None
        else {
            "mime": result.image.mime,
            "width": result.image.width,
            "height": result.image.height,
            "bytes": result.image.size_bytes,
        },
        "cost_usd": str(result.cost_usd),
        "measured_cost_usd": None
        if result.measured_cost_usd is None
        else str(result.measured_cost_usd),
        "usage": result.usage.as_dict() if result.usage else None,
        "served_model": result.served_model,
        "error": result.error,
        "cancelled": result.cancelled,
    }


def price_row_json(row: ShowRow) -> dict[str, Any]:
    return {
        "offering": row.offering,
        "source": row.source,
        "status": row.status,
        "amount": None if row.amount is None else str(row.amount),
        "unit": row.unit,
        "age_seconds": row.age_seconds,
        "stale": row.stale,
        "since": row.since.isoformat() if row.since else None,
    }


def passive_note(state: HealthState) -> str:
    """Passive samples' unconfirmed claims, named as such (issue 13)."""
    if not state.passive_suspect:
        return ""
    minutes = len(state.passive_failed_minutes)
    return f" (passive samples report failures in {minutes} minute(s), awaiting a probe)"


def status_data(service: Service) -> StatusData:
    """What the status page shows, from memory: states, prices, routes and routing's own
    windows and effective costs (what ``/metrics`` shows), trends from the recent results.
    No SQL, so it answers while the database is away."""
    config = service.config
    now = dt.datetime.now(dt.UTC)
    by_offering: dict[str, list[Recent]] = defaultdict(list)
    for result in list(service.recent.results):
        by_offering[result.offering].append(result)
    snapshot = service.routing.snapshot
    windows = {v.offering: v.windows for v in snapshot.offerings} if snapshot else {}
    costs = service.routing.effective_costs()
    ranks = {
        entry.offering: entry
        for route in service.routing.routes(policy=PolicyName.COST)
        for entry in route.entries
    }
    items = []
    for key in config.enabled_offerings():
        state = service.state_of(key)
        measured = summarise(by_offering.get(key, []), now=now, windows=windows.get(key))
        entry = ranks.get(key)
        items.append(
            OfferingStatus(
                offering=key,
                provider=config.provider_of(key),
                model=config.model_of(key),
                state=state.state.value,
                reason=state.reason + passive_note(state),
                state_since=state.since,
                listed_price_usd=service.price_of(key),
                measured_cost_usd=service.prices.measured_per_image(key),
                family=config.models[config.model_of(key)].family or config.model_of(key),
                effective_cost_usd=costs.get(key),
                route_rank=entry.rank or None if entry else None,
                route_weight=entry.weight if entry else None,
                **measured,
            )
        )
    return StatusData(
        generated_at=now,
        vantage=config.vantage,
        offerings=items,
        database_away=service.database_away(),
        notices=fate_notices(service),
    )


def fate_notices(service: Service) -> list[Notice]:
    """Issue 17: open upstream outages and active status-feed incidents, as page lines."""
    fate = service.fate
    out = []
    for group in sorted(fate.open_groups):
        down = fate.verdict(fate.groups[group][0])[1]
        providers = sorted({o.split("/", 1)[0] for o in down})
        named = ", ".join(providers)
        text = f"Upstream outage: {group} is down at {len(providers)} providers ({named})"
        out.append(Notice(kind="upstream", text=text, offerings=down))
    for incident, covered in fate.feed_notices():
        text = (
            f"Status feed {incident.feed}: {incident.name} ({incident.status}); "
            "a claim, confirmed by probes"
        )
        out.append(Notice(kind="feed", text=text, offerings=covered, since=incident.started_at))
    return out


#: how much of the exposition ``/metrics`` sends before it lets the event loop run others
YIELD_EVERY_BYTES = 1 << 20


def build_api(service: Service) -> FastAPI:
    config = service.config
    # no Swagger UI: it loads its scripts from a CDN and is blank offline (issue 13)
    app = FastAPI(title="provmon", version="0.1.0", docs_url=None, redoc_url=None)
    targets = targets_from_config(config)
    passive_env = config.passive.token_env or access.PASSIVE_TOKEN_ENV
    app.include_router(
        passive_router(
            observe=service.observe_passive,
            offerings=set(config.enabled_offerings()),
            token=secrets.read_secret(passive_env),
            token_env=passive_env,
            default_vantage=config.vantage,
            vantages=config.passive.vantages,
        )
    )
    access.protect(app, config)

    @app.get("/", include_in_schema=False)
    async def status_page() -> HTMLResponse:
        # on the event loop: the recent results and engines are the loop's, never a thread's
        return HTMLResponse(render_status(status_data(service)))

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        # cached series text plus the scrape-time gauges (issue 8: not generate_latest),
        # gathered in this worker thread, joined piece by piece as the socket takes them
        chunks = service.metrics.render_chunks()

        async def body() -> AsyncIterator[bytes]:
            sent = 0
            for piece in pieces(chunks):
                yield piece
                sent += len(piece)
                # a socket that takes every piece at once never suspends the send: let the
                # probes' callbacks run after each MiB (43 MB at 10,000 offerings, issue 18)
                if sent >= YIELD_EVERY_BYTES:
                    sent = 0
                    await asyncio.sleep(0)

        length = str(sum(map(len, chunks)))
        return StreamingResponse(
            body(), media_type=CONTENT_TYPE, headers={"Content-Length": length}
        )

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok\n")

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        problems = []
        if not service.started:
            problems.append("service is not started")
        try:
            await asyncio.to_thread(service.store.check)
        except StoreError as exc:
            problems.append(str(exc))
        if service.writer.failing:
            problems.append(f"{len(service.writer.buffer)} results waiting for the database")
        if problems:
            return JSONResponse({"ready": False, "problems": problems}, status_code=503)
        return JSONResponse({"ready": True})

    @app.get("/api/offerings")
    def offerings() -> list[dict[str, Any]]:
        out = []
        for key, entry in config.offerings.items():
            provider = config.provider_of(key)
            out.append(
                {
                    "offering": key,
                    "provider": provider,
                    "model": config.model_of(key),
                    "protocol": config.providers[provider].protocol,
                    "provider_model": entry.provider_model,
                    "enabled": entry.enabled,
                    "listed_price_usd": str(entry.listed_price_usd)
                    if entry.listed_price_usd is not None
                    else None,
                    "control_interval_seconds": config.schedule_for(
                        key, "control"
                    ).interval_seconds,
                    "generate_interval_seconds": config.schedule_for(
                        key, "generate"
                    ).interval_seconds,
                }
            )
        return out

    @app.get("/api/probes")
    async def probes(
        offering: str | None = None,
        kind: Kind | None = None,
        outcome: Outcome | None = None,
        since: dt.datetime | None = None,
        limit: int = Query(100, ge=1, le=1000),
    ) -> list[dict[str, Any]]:
        if offering is not None and offering not in config.offerings:
            raise HTTPException(404, "unknown offering")  # never echo input
        try:
            rows = await asyncio.to_thread(
                service.store.recent_results,
                offering=offering,
                kind=kind.value if kind else None,
                outcome=outcome.value if outcome else None,
                since=since,
                limit=limit,
            )
        except StoreError as exc:
            raise HTTPException(503, str(exc)) from None
        return [result_json(r) for r in rows]

    @app.get("/api/state")
    def state(response: Response) -> list[dict[str, Any]]:
        # served from memory while the database is away; the header says it is
        if service.database_away() is not None:
            response.headers[DATABASE_HEADER] = "away"
        out = []
        for key in config.enabled_offerings():
            st = service.state_of(key)
            out.append(
                {
                    "offering": key,
                    "provider": config.provider_of(key),
                    "model": config.model_of(key),
                    "vantage": config.vantage,
                    "state": st.state.value,
                    "since": st.since.isoformat() if st.since else None,
                    "reason": st.reason,
                    "last_outcome": st.last_outcome.value if st.last_outcome else None,
                    "consecutive_failures": st.consecutive_failures,
                    # ours to fix (key, billing, quota): out of routing, not an outage
                    "account_problem": st.account_problem,
                    # what gateways claimed, kept apart from what probes measured
                    "passive": {
                        "last_at": st.last_passive_at.isoformat() if st.last_passive_at else None,
                        "unconfirmed": st.passive_suspect,
                        "failing_minutes": len(st.passive_failed_minutes),
                        "decided_state": st.passive_down,
                    },
                }
            )
        return out

    @app.get("/api/prices")
    async def prices(
        offering: str | None = None, limit: int = Query(500, ge=1, le=5000)
    ) -> dict[str, Any]:
        if offering is not None and offering not in config.offerings:
            raise HTTPException(404, "unknown offering")  # never echo input
        try:
            history = await asyncio.to_thread(service.prices.history, offering, limit=limit)
        except StoreError as exc:
            raise HTTPException(503, str(exc)) from None
        rows = [r for r in service.prices.rows_for_show() if offering in (None, r.offering)]
        flagged = [
            {
                "offering": d.offering,
                "unit": d.unit.value,
                "amounts": {s: str(a) for s, a in d.amounts.items()},
            }
            for d in service.prices.disagreements()
            if offering in (None, d.offering)
        ]
        return {
            "current": [price_row_json(r) for r in rows],
            "history": history,
            "disagreements": flagged,
        }

    @app.get("/api/incidents")
    async def incidents(
        offering: str | None = None,
        open: bool = False,
        since: dt.datetime | None = None,
        limit: int = Query(100, ge=1, le=1000),
    ) -> list[dict[str, Any]]:
        try:
            rows = await asyncio.to_thread(
                service.store.incidents,
                offering=offering,
                open_only=open,
                since=since,
                limit=limit,
            )
        except StoreError as exc:
            raise HTTPException(503, str(exc)) from None
        # issue 17: an upstream outage is one incident (``upstream/<group>``) and its
        # members' incidents name it (monitor/incidents.py)
        linked = links(
            [
                Spell(offering=r.offering, started_at=r.started_at, ended_at=r.ended_at)
                for r in rows
            ],
            service.fate.upstream,
        )
        return [
            {
                "offering": r.offering,
                "vantage": r.vantage,
                "state": r.state,
                "reason": r.reason,
                "started_at": r.started_at.isoformat(),
                "ended_at": r.ended_at.isoformat() if r.ended_at else None,
                "scope": "upstream" if r.offering.startswith(UPSTREAM_PREFIX) else "offering",
                "upstream_incident": link,
            }
            for r, link in zip(rows, linked, strict=True)
        ]

    @app.get("/api/routing")
    def routing(
        model: str | None = None, policy: PolicyName | None = None, format: str = "json"
    ) -> Any:
        if format not in FORMATS:
            raise HTTPException(400, f"format must be one of {', '.join(FORMATS)}")
        if model is not None and model not in config.models:
            raise HTTPException(404, "unknown model")
        if format != "json" and policy is None:
            policy = PolicyName.COST  # a gateway config needs one route per model
        # a gateway config never carries a model past its shutdown time (issue 16)
        live = {k: t for k, t in targets.items() if service.lifecycle.routable(k)}
        return FORMATS[format](service.routing.routes(policy=policy, model=model), live)

    @app.get("/api/catalog")
    def catalog() -> dict[str, Any]:
        """Lifecycle per offering (live, deprecated, retired, unlisted) with its shutdown
        date and replacement, the latest discovery per provider, served-model events."""
        return service.lifecycle.as_json()

    @app.get("/api/budget")
    def budget() -> list[dict[str, Any]]:
        return [
            {
                "scope": row.scope,
                "cap_usd": str(row.cap_usd),
                "spent_usd": str(row.spent_usd),
                "remaining_usd": str(row.remaining_usd),
            }
            for row in service.budget.rows()
        ]

    return app
