"""provmon's HTTP surface: ``/metrics``, ``/healthz``, ``/readyz`` and the JSON API."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from monitor.interfaces import Kind, Outcome, ProbeResult
from monitor.service import Service
from monitor.store import StoreError


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
        "error": result.error,
        "cancelled": result.cancelled,
    }


def build_api(service: Service) -> FastAPI:
    config = service.config
    app = FastAPI(title="provmon", version="0.1.0", docs_url="/api/docs", redoc_url=None)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(service.registry), media_type=CONTENT_TYPE_LATEST)

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
            raise HTTPException(404, f"unknown offering {offering!r}")
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
    def state() -> list[dict[str, Any]]:
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
                }
            )
        return out

    return app
