"""The simulator: every fake provider on one ASGI app, each under its own prefix.

``FAKES`` is the only list of fakes: the app mounts their routes and its index lists their
prefixes, and the prefix each protocol is served under comes from the probe's ``fake``
(through ``PROBES``), so adding a fake is one entry here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from monitor.sim import (
    bfl,
    control,
    deprecations,
    fal,
    fal_platform,
    feeds,
    files,
    google,
    openai,
    openrouter,
    pages,
    replicate,
)
from monitor.sim._common import Sim
from monitor.sim.mappings import MappingsMiddleware
from monitor.sim.scenario import Scenario, SimState
from probes import PROBES


@dataclass(frozen=True, kw_only=True)
class Fake:
    """One fake API: its routes, and the path prefix of each name it answers as.

    A name is what scenario targets (``<name>:<model>``) and a probe's ``fake`` say; one
    fake may answer as several (Google's fake serves both Vertex AI and the Gemini API).
    """

    routes: Callable[[Sim], Sequence[BaseRoute]]
    prefixes: Mapping[str, str]


FAKES: dict[str, Fake] = {
    "openai": Fake(routes=openai.routes, prefixes={"openai": "/openai/v1"}),
    "google": Fake(routes=google.routes, prefixes={"vertex": "/vertex", "gemini": "/gemini"}),
    # the queue and sync run; the platform API (listings, prices)
    "fal": Fake(
        routes=lambda sim: [*fal.routes(sim), *fal_platform.routes(sim)],
        prefixes={"fal": "/fal"},
    ),
    "replicate": Fake(routes=replicate.routes, prefixes={"replicate": "/replicate/v1"}),
    # pricing pages and deprecation pages, both read like pages
    "pages": Fake(
        routes=lambda sim: [*pages.routes(sim), *deprecations.routes(sim)],
        prefixes={"pages": "/pages"},
    ),
    "openrouter": Fake(routes=openrouter.routes, prefixes={"openrouter": "/openrouter/api/v1"}),
    "bfl": Fake(routes=bfl.routes, prefixes={"bfl": "/bfl"}),
    "feeds": Fake(routes=feeds.routes, prefixes={"status": "/status"}),
    "files": Fake(routes=files.routes, prefixes={"files": "/files"}),
    "control": Fake(routes=control.routes, prefixes={"_sim": "/_sim"}),
}


def fake_prefix(name: str) -> str:
    """The path prefix of the fake answering as ``name`` (a probe's ``fake``)."""
    for fake in FAKES.values():
        if name in fake.prefixes:
            return fake.prefixes[name]
    known = sorted(n for fake in FAKES.values() for n in fake.prefixes)
    raise KeyError(f"no fake answers as {name!r}; known: {', '.join(known)}")


class ServerTiming:
    """Adds ``x-sim-server-seconds``: the time from the request reaching the app to its
    response headers, so tests can tell the simulator's own time from the prober's."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                elapsed = f"{time.perf_counter() - started:.6f}".encode()
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"x-sim-server-seconds", elapsed)],
                }
            await send(message)

        await self.app(scope, receive, timed_send)


def build_app(
    scenario: Scenario | None = None,
    *,
    control_enabled: bool = False,
    control_token: str | None = None,
) -> Starlette:
    sim = Sim(
        state=SimState(scenario),
        control_enabled=control_enabled,
        control_token=control_token,
        fake_names=tuple(sorted(n for fake in FAKES.values() for n in fake.prefixes)),
    )
    route_list: list[BaseRoute] = []
    for fake in FAKES.values():
        route_list.extend(fake.routes(sim))
    prefixes = [prefix for fake in FAKES.values() for prefix in fake.prefixes.values()]
    # fails at start-up, not per request, when a probe names a fake that is not registered
    protocols = {name: fake_prefix(probe.fake) for name, probe in PROBES.items()}

    async def index(request: Request) -> Response:
        return JSONResponse(
            {
                "simulator": "provmon",
                "prefixes": prefixes,
                # the prefix each protocol's fake answers under
                "protocols": protocols,
            }
        )

    route_list.append(Route("/", index, methods=["GET"]))
    # mappings are served before any fake's own answer (and inside the timing stamp)
    middleware = [
        Middleware(ServerTiming),
        Middleware(MappingsMiddleware, store=sim.state.mappings),
    ]
    app = Starlette(routes=route_list, middleware=middleware)
    app.state.sim = sim
    return app
