"""What every fake shares: the live scenario, the file store, faults and latency."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from monitor.sim.images import FileStore, mime_of, render
from monitor.sim.scenario import Decision, Fault, SimState

#: how long a hung request is held before the fake gives up on it
HANG_SECONDS = 3600.0


@dataclass
class Sim:
    state: SimState = field(default_factory=SimState)
    files: FileStore = field(default_factory=FileStore)
    #: whether ``/_sim`` control calls are accepted
    control_enabled: bool = False
    control_token: str | None = None
    #: the names the fakes answer as (scenario targets are ``name:model``), from ``FAKES``
    fake_names: tuple[str, ...] = ()

    def file_url(self, request: Request, width: int, height: int, fmt: str) -> str:
        name = self.files.add(width, height, fmt)
        return str(request.url_for("sim_file", name=name))


async def wait(seconds: float) -> None:
    """An injected delay, never shorter than ``seconds``: a loop's timers may fire up to a
    clock tick early (uvloop's, libuv's millisecond clock read once per loop turn)."""
    if seconds <= 0:
        return
    end = time.perf_counter() + seconds
    await asyncio.sleep(seconds)
    while (left := end - time.perf_counter()) > 0:
        await asyncio.sleep(left)


async def apply_transport_fault(
    decision: Decision, request: Request | None = None
) -> Response | None:
    """Handle the faults that look the same at every provider (hang, reset).

    A hung request is held until the client gives up (disconnects), as a stuck upstream
    would hold it, so shutting the simulator down never has hung handlers to kill.
    """
    if decision.fault == Fault.HANG:
        loop = asyncio.get_running_loop()
        until = loop.time() + HANG_SECONDS
        while loop.time() < until:
            if request is not None and await request.is_disconnected():
                break
            await asyncio.sleep(0.2)
        return Response(status_code=504)
    if decision.fault == Fault.RESET:
        return StreamingResponse(_broken_body(), media_type="application/json")
    return None


async def _broken_body() -> AsyncIterator[bytes]:
    yield b'{"partial": '
    raise ConnectionResetError("simulated connection reset")


def image_bytes(width: int, height: int, fmt: str) -> tuple[bytes, str]:
    return render(width, height, fmt), mime_of(fmt)
