"""``/_sim/...``: load a scenario, inject an outage, read request counts, stub answers.

Off unless the simulator was started with control enabled (the demo enables it); when a
token is configured, every call must carry ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac

import yaml
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from monitor.sim._common import Sim
from monitor.sim.mappings import Mapping
from monitor.sim.scenario import Behaviour, Scenario


def routes(sim: Sim) -> list[Route]:
    def guard(request: Request) -> Response | None:
        if not sim.control_enabled:
            return JSONResponse({"detail": "simulator control is disabled"}, status_code=404)
        if sim.control_token:
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), sim.control_token.encode()):
                return JSONResponse({"detail": "control token required"}, status_code=401)
        return None

    async def get_scenario(request: Request) -> Response:
        return guard(request) or JSONResponse(sim.state.scenario.model_dump(mode="json"))

    async def put_scenario(request: Request) -> Response:
        if (denied := guard(request)) is not None:
            return denied
        try:
            scenario = Scenario.model_validate(yaml.safe_load(await request.body()) or {})
        except (yaml.YAMLError, ValidationError) as exc:
            return JSONResponse({"detail": str(exc)}, status_code=422)
        sim.state.load(scenario)
        return JSONResponse({"loaded": True})

    async def post_behaviour(request: Request) -> Response:
        """Merge a behaviour into a pattern: ``{"target": "openai:*", "outage": "error"}``."""
        if (denied := guard(request)) is not None:
            return denied
        try:
            data = yaml.safe_load(await request.body()) or {}
            target = data.pop("target")
            behaviour = Behaviour.model_validate(data)
        except (yaml.YAMLError, ValidationError, KeyError, AttributeError) as exc:
            return JSONResponse({"detail": f"bad behaviour: {exc}"}, status_code=422)
        sim.state.override(str(target), behaviour)
        return JSONResponse({"target": target, **behaviour.model_dump(exclude_unset=True)})

    async def delete_behaviour(request: Request) -> Response:
        if (denied := guard(request)) is not None:
            return denied
        sim.state.clear_overrides(request.query_params.get("target"))
        return JSONResponse({"cleared": True})

    async def stats(request: Request) -> Response:
        return guard(request) or JSONResponse(dict(sim.state.stats))

    async def post_mapping(request: Request) -> Response:
        """One WireMock stub mapping: ``201`` with the mapping as stored (its ``id``)."""
        if (denied := guard(request)) is not None:
            return denied
        try:
            mapping = Mapping.model_validate_json(await request.body())
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "mapping"
            return JSONResponse({"detail": f"bad mapping: {where}: {first['msg']}"}, 422)
        sim.state.mappings.add(mapping)
        return JSONResponse(_dump(mapping), status_code=201)

    async def list_mappings(request: Request) -> Response:
        if (denied := guard(request)) is not None:
            return denied
        found = [_dump(m) for m in sim.state.mappings.all()]
        return JSONResponse({"mappings": found, "meta": {"total": len(found)}})

    async def delete_mappings(request: Request) -> Response:
        if (denied := guard(request)) is not None:
            return denied
        sim.state.mappings.replace([])
        return JSONResponse({"deleted": True})

    async def delete_mapping(request: Request) -> Response:
        if (denied := guard(request)) is not None:
            return denied
        if not sim.state.mappings.remove(request.path_params["id"]):
            return JSONResponse({"detail": "no such mapping"}, status_code=404)
        return JSONResponse({"deleted": True})

    return [
        Route("/_sim/mappings", post_mapping, methods=["POST"]),
        Route("/_sim/mappings", list_mappings, methods=["GET"]),
        Route("/_sim/mappings", delete_mappings, methods=["DELETE"]),
        Route("/_sim/mappings/{id}", delete_mapping, methods=["DELETE"]),
        Route("/_sim/scenario", get_scenario, methods=["GET"]),
        Route("/_sim/scenario", put_scenario, methods=["PUT", "POST"]),
        Route("/_sim/behaviour", post_behaviour, methods=["POST"]),
        Route("/_sim/behaviour", delete_behaviour, methods=["DELETE"]),
        Route("/_sim/stats", stats, methods=["GET"]),
    ]


def _dump(mapping: Mapping) -> dict[str, object]:
    return mapping.model_dump(mode="json", exclude_none=True)
