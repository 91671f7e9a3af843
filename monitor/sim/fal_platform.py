"""Fake fal.ai platform API (``/fal/api/v1``): the model search and listing, and prices.

The same endpoints as the queue (``monitor.sim.fal``). A key is optional for the listing
(it only raises fal's rate limit) and required for prices; a control decision of the
scenario can break either call as it breaks a control probe.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from monitor.sim._common import Sim, apply_transport_fault
from monitor.sim.fal import ENDPOINTS, FAKE, caller_key, error_answer
from monitor.sim.scenario import Fault


def _model(endpoint: str, retired: bool) -> dict[str, Any]:
    tier = endpoint.rsplit("/", 1)[-1]
    name = {"fast": "Imagen 4 Fast", "ultra": "Imagen 4 Ultra"}.get(tier, "Imagen 4")
    return {
        "endpoint_id": endpoint,
        "metadata": {
            "display_name": name,
            "category": "text-to-image",
            "status": "deprecated" if retired else "active",
            "description": "Google's Imagen 4 text-to-image model",
        },
    }


def routes(sim: Sim) -> list[Route]:
    def asked(request: Request) -> list[str]:
        given = [i for v in request.query_params.getlist("endpoint_id") for i in v.split(",")]
        if not given:  # the search: every endpoint, the scenario's extra ones too
            return (
                sim.state.listed(FAKE, ENDPOINTS)
                if "category" in request.query_params
                else [*ENDPOINTS]
            )
        return [e for e in given if sim.state.known(FAKE, e, ENDPOINTS)]

    async def control_fault(endpoints: list[str]) -> Response | None:
        for endpoint in endpoints:
            decision = sim.state.decide(FAKE, endpoint, control=True)
            broken = await apply_transport_fault(decision)
            if broken is not None:
                return broken
            if decision.fault in (Fault.SERVER_ERROR, Fault.UNAVAILABLE):
                return error_answer(decision.status, "Internal server error")
        return None

    async def models(request: Request) -> Response:
        key = caller_key(sim, request)  # optional here: a key only raises the rate limit
        if isinstance(key, JSONResponse):
            return key
        endpoints = asked(request)
        failed = await control_fault(endpoints)
        found = [_model(e, bool(sim.state.behaviour(FAKE, e).retired)) for e in endpoints]
        return failed or JSONResponse({"models": found, "next_cursor": None, "has_more": False})

    async def pricing(request: Request) -> Response:
        key = caller_key(sim, request)
        if key is None:
            return error_answer(401, "Authentication is required for this endpoint")
        if isinstance(key, JSONResponse):
            return key
        endpoints = asked(request)
        prices = [
            {
                "endpoint_id": e,
                "unit_price": float(ENDPOINTS[e]),
                "unit": "image",
                "currency": "USD",
            }
            for e in endpoints
            if e in ENDPOINTS  # a scenario's extra endpoint has no price here
        ]
        failed = await control_fault(endpoints)
        return failed or JSONResponse({"prices": prices, "next_cursor": None, "has_more": False})

    return [
        Route("/fal/api/v1/models/pricing", pricing, methods=["GET"]),
        Route("/fal/api/v1/models", models, methods=["GET"]),
    ]
