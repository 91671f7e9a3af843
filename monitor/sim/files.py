"""``/files/{name}``: the images fakes hand out as URLs (like fal's CDN, replicate.delivery)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from monitor.sim._common import Sim, image_bytes


def routes(sim: Sim) -> list[Route]:
    async def get_file(request: Request) -> Response:
        stored = sim.files.get(request.path_params["name"])
        if stored is None:
            return JSONResponse({"detail": "Not found"}, status_code=404)
        data, mime = image_bytes(stored.width, stored.height, stored.fmt)
        return Response(data, media_type=mime)

    return [Route("/files/{name}", get_file, methods=["GET"], name="sim_file")]
