"""``/_sim/...``: load a scenario, inject an outage, read request counts, stub answers.

Off unless the simulator was started with control enabled (the demo enables it); when a
token is configured, every call must carry ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import fnmatch
import hmac
from typing import Any

import yaml
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from monitor.sim._common import Sim
from monitor.sim.mappings import Mapping
from monitor.sim.scenario import DEFAULT_KEYS, Behaviour, Scenario

#: the fakes a behaviour target can name (``fake:model``) when the app does not say
FAKE_NAMES = tuple(sorted(DEFAULT_KEYS))
#: control bodies are a few hundred bytes; a scenario a few kilobytes
MAX_CONTROL_BODY = 256 * 1024


def target_problem(target: Any, names: tuple[str, ...] = FAKE_NAMES) -> str | None:
    """Why ``target`` can match no request of any fake (``names``); None when usable."""
    if not isinstance(target, str) or not target or len(target) > 300:
        return "target must be a 'fake:model' pattern, e.g. 'openai:*'"
    fake, sep, _ = target.partition(":")
    if not sep:  # a wildcard over whole targets ("*") is fine; a bare fake name matches none
        if any(fnmatch.fnmatchcase(f"{name}:m", target) for name in names):
            return None
        return "target must be a 'fake:model' pattern, e.g. 'openai:*'"
    if not fnmatch.filter(names, fake):
        return f"target names no simulated provider; known: {', '.join(names)}"
    return None


def problems_of(exc: Exception) -> list[str]:
    """What was wrong, without internals or an echo of the input."""
    if isinstance(exc, ValidationError):
        return [
            ".".join(str(p) for p in item["loc"]) + f": {item['msg']}"
            for item in exc.errors(include_url=False)
        ][:20]
    if isinstance(exc, yaml.YAMLError):
        return ["body is not valid YAML or JSON"]
    return ["body must be a mapping"]


async def read_mapping(request: Request) -> dict[str, Any] | Response:
    """The body as a YAML/JSON mapping, or the 4xx answer saying why not."""
    body = await request.body()
    if len(body) > MAX_CONTROL_BODY:
        return JSONResponse({"detail": "body too large"}, status_code=413)
    try:
        data = yaml.safe_load(body) or {}
    except (yaml.YAMLError, ValueError, RecursionError):
        return JSONResponse({"detail": ["body is not valid YAML or JSON"]}, status_code=422)
    if not isinstance(data, dict):
        return JSONResponse({"detail": ["body must be a mapping"]}, status_code=422)
    return data


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
        data = await read_mapping(request)
        if isinstance(data, Response):
            return data
        try:
            scenario = Scenario.model_validate(data)
        except ValidationError as exc:
            return JSONResponse({"detail": problems_of(exc)}, status_code=422)
        sim.state.load(scenario)
        return JSONResponse({"loaded": True})

    async def post_behaviour(request: Request) -> Response:
        """Merge a behaviour into a pattern: ``{"target": "openai:*", "outage": "error"}``."""
        if (denied := guard(request)) is not None:
            return denied
        data = await read_mapping(request)
        if isinstance(data, Response):
            return data
        target = data.pop("target", None)
        # an unknown target used to be taken (200) and silently change nothing
        if (problem := target_problem(target, sim.fake_names or FAKE_NAMES)) is not None:
            return JSONResponse({"detail": [f"target: {problem}"]}, status_code=422)
        try:
            behaviour = Behaviour.model_validate(data)
        except ValidationError as exc:
            return JSONResponse({"detail": problems_of(exc)}, status_code=422)
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
