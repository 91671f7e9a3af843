"""``/files/{name}``: the images fakes hand out as URLs (like fal's CDN, replicate.delivery),
and the same images inline as ``data:`` URIs (the providers' sync modes)."""

from __future__ import annotations

import base64

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


def data_uri(width: int, height: int, fmt: str) -> str:
    """An image inline, as Replicate's sync mode and fal's ``sync_mode`` return one."""
    data, mime = image_bytes(width, height, fmt)
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"
