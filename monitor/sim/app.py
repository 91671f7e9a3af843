"""The simulator: every fake provider on one ASGI app, each under its own prefix."""

from __future__ import annotations

import time
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from monitor.sim import control, fal, feeds, files, google, openai, pages, replicate
from monitor.sim._common import Sim
from monitor.sim.scenario import Scenario, SimState

#: one ``routes(sim)`` per fake; adding a provider's fake is one line here
FAKES = (openai, google, fal, replicate, pages, files, control, feeds)


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
        state=SimState(scenario), control_enabled=control_enabled, control_token=control_token
    )
    route_list: list[BaseRoute] = []
    for fake in FAKES:
        route_list.extend(fake.routes(sim))

    async def index(request: Request) -> Response:
        return JSONResponse(
            {
                "simulator": "provmon",
                "prefixes": [
                    "/openai/v1",
                    "/vertex",
                    "/gemini",
                    "/fal",
                    "/replicate/v1",
                    "/pages",
                    "/files",
                    "/status",
                    "/_sim",
                ],
            }
        )

    route_list.append(Route("/", index, methods=["GET"]))
    app = Starlette(routes=route_list, middleware=[Middleware(ServerTiming)])
    app.state.sim = sim
    return app
