"""The submit-poll-download loop shared by job APIs (fal's queue, Replicate's predictions).

A job is submitted, polled through ``ctx.sleep`` until it is terminal, and its output file
is downloaded (timed as ``download``). The loop measures ``queue`` (submit until the job is
first seen out of the queue) and ``inference`` (from then until it is first seen done); a
subclass replaces either with the provider's own report where one exists, since ours is
only as fine as the poll interval. If the deadline passes while the job is alive, it is
cancelled: an abandoned job would still run, and still be billed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, ClassVar

import httpx
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from monitor.interfaces import Outcome, Phase, ProbeFailure
from monitor.probe_context import ProbeContext

#: seconds a cancel may take; it is sent after the deadline, so the context's time is gone
CANCEL_TIMEOUT_S = 4.0


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


HttpUrl = Annotated[str, AfterValidator(_http_url)]


def body_of(response: httpx.Response) -> Any:
    """The answer's JSON, or None (error answers are not always JSON)."""
    try:
        return response.json()
    except ValueError:
        return None


def lost_job(response: httpx.Response, what: str) -> ProbeFailure:
    """A 404/410 on a job's own URL: the provider lost the job, the model is not gone.

    Only the call that names the model may say the model is gone; two lost jobs must never
    retire an offering, so this is a ``protocol_error``.
    """
    return ProbeFailure(
        Outcome.PROTOCOL_ERROR,
        f"job lost: its {what} URL answered HTTP {response.status_code}",
        http_status=response.status_code,
    )


def json_object(ctx: ProbeContext, response: httpx.Response, what: str) -> dict[str, Any]:
    """A success answer's JSON object, or a ``protocol_error`` saying what it was not."""
    answer = ctx.json_body(response)
    if not isinstance(answer, dict):
        raise ProbeFailure(Outcome.PROTOCOL_ERROR, f"{what} answer is not a JSON object")
    return answer


class JobOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: time between status polls; also the resolution of the measured ``queue`` phase
    poll_interval_seconds: Annotated[float, Field(gt=0, le=60)] = 0.5


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"  # terminal, successful or not: ``output_url`` decides


@dataclass
class Job:
    """What the loop knows about one job: the provider's last answer about it."""

    id: str | None
    state: JobState
    body: Any
    #: where to ask about the job (``status``, ``result``, ``cancel``), as the provider said
    urls: dict[str, str] = field(default_factory=dict)


class JobProbe(ABC):
    """Base of probes whose generation is a job: submit, poll, fetch the output, download.

    Subclasses implement :meth:`submit`, :meth:`poll`, :meth:`cancel`, :meth:`output_url`
    and ``control``; each raises :class:`~monitor.interfaces.ProbeFailure` for a failed
    answer and must not sleep (the loop does, through ``ctx.sleep``).
    """

    Options: ClassVar[type[BaseModel]] = JobOptions

    @abstractmethod
    async def submit(self, ctx: ProbeContext) -> Job:
        """Start the job (one billed request); may return it already done."""
        ...

    @abstractmethod
    async def poll(self, ctx: ProbeContext, job: Job) -> Job:
        """Ask once where the job is."""
        ...

    @abstractmethod
    async def cancel(self, ctx: ProbeContext, job: Job) -> None:
        """Stop the job; called after the deadline, so use :meth:`after_deadline`."""
        ...

    @abstractmethod
    async def output_url(self, ctx: ProbeContext, job: Job) -> str:
        """The URL of the finished job's image, or raise the job's failure."""
        ...

    def reported(self, job: Job) -> tuple[float | None, float | None]:
        """The provider's own (queue, inference) seconds for a done job, where it says."""
        return None, None

    async def generate(self, ctx: ProbeContext) -> bytes:
        options = ctx.options
        assert isinstance(options, JobOptions)
        start = ctx.clock()
        job = first = await self.submit(ctx)
        ctx.request_id = job.id
        # a job answered as running was never seen queued: its queue time is unknown here
        left_queue = ctx.clock() if job.state is JobState.RUNNING else None
        seen_running = left_queue is not None

        async def cancel() -> None:
            await self.cancel(ctx, first)

        if job.state is not JobState.DONE and "cancel" in job.urls:
            ctx.on_deadline(cancel)
        while job.state is not JobState.DONE:
            ctx.current_phase = Phase.QUEUE if job.state is JobState.QUEUED else Phase.INFERENCE
            await ctx.sleep(options.poll_interval_seconds)
            job = await self.poll(ctx, job)
            if left_queue is None and job.state is not JobState.QUEUED:
                left_queue = ctx.clock()
                seen_running = job.state is JobState.RUNNING
        done = ctx.clock()
        if cancel in ctx.cleanups:  # finished: nothing left to cancel
            ctx.cleanups.remove(cancel)
        queue_s, inference_s = self.reported(job)
        if queue_s is None and first.state is JobState.QUEUED:
            if inference_s is not None:
                # the provider's inference time is part of the time we waited: what is left
                # is the queue, so a job seen only queued and then done is not counted twice
                queue_s = max(0.0, done - start - inference_s)
            elif left_queue is not None:
                queue_s = left_queue - start
        if inference_s is None and left_queue is not None and seen_running:
            inference_s = done - left_queue  # not if it went from queue straight to done
        for phase, seconds in ((Phase.QUEUE, queue_s), (Phase.INFERENCE, inference_s)):
            if seconds is not None:
                ctx.record(phase, seconds)
        ctx.current_phase = Phase.DOWNLOAD
        url = await self.output_url(ctx, job)
        return await ctx.download(url, headers=self.download_headers(ctx, url))

    def download_headers(self, ctx: ProbeContext, url: str) -> dict[str, str]:
        """Headers for fetching the output file at ``url`` (none unless a provider says)."""
        return {}

    async def after_deadline(
        self, ctx: ProbeContext, method: str, url: str, headers: dict[str, str]
    ) -> httpx.Response:
        """Send a clean-up request with its own short timeout.

        ``ctx.send`` bounds every request by the probe's deadline, which has passed when
        clean-ups run; the runner bounds this call too (``CLEANUP_SECONDS``).
        """
        response = await ctx.send(
            method, url, headers=headers, timed=False, timeout=CANCEL_TIMEOUT_S
        )
        response.raise_for_status()
        return response
