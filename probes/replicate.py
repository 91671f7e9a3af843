"""Replicate predictions API (``https://api.replicate.com/v1``), official models.

``POST /models/{owner}/{name}/predictions`` with ``Prefer: wait=N`` holds the request up to
N seconds; an answer still ``starting`` is then polled at ``urls.get`` until ``succeeded``,
``failed``, ``canceled`` or ``aborted``. ``output`` is one file URI for imagen-4 (a list is
accepted too). Errors are RFC 7807 ``{type, title, status, detail}``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Annotated, Any, ClassVar

import httpx
from pydantic import BaseModel, Field

from monitor.http import retry_after_seconds
from monitor.interfaces import ListedModel, Outcome, ProbeFailure
from monitor.probe_context import ProbeContext
from probes._jobs import HttpUrl, Job, JobOptions, JobProbe, JobState, body_of, json_object
from probes._listings import replicate_models

_STATES = {"starting": JobState.QUEUED, "processing": JobState.RUNNING}
#: a hold must end this long before the deadline, so the answer (and its cancel URL) arrives
_WAIT_MARGIN_S = 2.0
#: Replicate's safety block is a ``failed`` prediction whose error text is UNCONFIRMED
_SAFETY = re.compile(r"safety|nsfw|sensitive|flagged", re.IGNORECASE)
_RESETS_IN = re.compile(r"~\s*(\d+(?:\.\d+)?)\s*s")


class ReplicateOptions(JobOptions):
    api_url: HttpUrl = "https://api.replicate.com/v1"
    #: seconds the create request may be held (``Prefer: wait``); 0 disables it
    prefer_wait: Annotated[int, Field(ge=0, le=60)] = 60
    #: ``Cancel-After`` seconds: Replicate aborts (unbilled) a prediction still running then
    cancel_after: Annotated[int, Field(ge=1, le=86_400)] | None = None


def classify(status: int, body: Any) -> Outcome:
    """An RFC 7807 error answer, or a 2xx prediction that ended without succeeding."""
    body = body if isinstance(body, dict) else {}
    if 200 <= status < 300:
        if body.get("status") == "failed" and _SAFETY.search(str(body.get("error") or "")):
            return Outcome.CONTENT_FILTERED
        if body.get("status") in ("failed", "canceled", "aborted"):
            return Outcome.SERVER_ERROR
        return Outcome.PROTOCOL_ERROR
    if status in (401, 403):
        return Outcome.AUTH_ERROR
    if status in (404, 410):
        return Outcome.MODEL_UNAVAILABLE
    if status == 429:
        return Outcome.RATE_LIMITED
    if status >= 500:
        return Outcome.SERVER_ERROR
    return Outcome.BAD_REQUEST if status >= 400 else Outcome.PROTOCOL_ERROR


def _fail(response: httpx.Response) -> ProbeFailure:
    body = body_of(response)
    detail = (
        str(body.get("detail") or body.get("title"))
        if isinstance(body, dict)
        else (response.text[:200])
    )
    retry_after = retry_after_seconds(response.headers)  # header UNCONFIRMED; detail says ~N s
    if retry_after is None and (found := _RESETS_IN.search(detail)):
        retry_after = float(found.group(1))
    return ProbeFailure(
        classify(response.status_code, body),
        f"HTTP {response.status_code}: {detail}",
        http_status=response.status_code,
        retry_after_s=retry_after,
    )


def _seconds(start: Any, end: Any) -> float | None:
    """``end - start`` of two ISO timestamps (Replicate sends up to nanoseconds)."""
    try:
        a, b = (
            dt.datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", str(t))) for t in (start, end)
        )
    except ValueError:
        return None
    if (a.tzinfo is None) != (b.tzinfo is None):  # one without a zone: Replicate's is UTC
        a, b = (t if t.tzinfo else t.replace(tzinfo=dt.UTC) for t in (a, b))
    return (b - a).total_seconds()


class ReplicateProbe(JobProbe):
    Options: ClassVar[type[BaseModel]] = ReplicateOptions

    def headers(self, ctx: ProbeContext) -> dict[str, str]:
        return {"Authorization": f"Bearer {ctx.secret}"} if ctx.secret else {}

    def _job(self, ctx: ProbeContext, response: httpx.Response) -> Job:
        if response.status_code not in (200, 201, 202):
            raise _fail(response)
        body = ctx.json_body(response)
        urls = body.get("urls") if isinstance(body, dict) else None
        if not isinstance(urls, dict) or not isinstance(body.get("status"), str):
            raise ProbeFailure(Outcome.PROTOCOL_ERROR, "answer is not a prediction")
        state = _STATES.get(body["status"], JobState.DONE)
        return Job(body.get("id"), state, body, {k: str(v) for k, v in urls.items()})

    async def submit(self, ctx: ProbeContext) -> Job:
        options = ctx.options
        assert isinstance(options, ReplicateOptions)
        headers = self.headers(ctx)
        wait = int(min(options.prefer_wait, ctx.time_left() - _WAIT_MARGIN_S))
        if wait >= 1:
            headers["Prefer"] = f"wait={wait}"
        if options.cancel_after:
            headers["Cancel-After"] = f"{options.cancel_after}s"
        body = {"input": {"prompt": ctx.prompt, **ctx.params}}
        url = f"{options.api_url}/models/{ctx.provider_model}/predictions"
        return self._job(ctx, await ctx.send("POST", url, json=body, headers=headers))

    async def poll(self, ctx: ProbeContext, job: Job) -> Job:
        return self._job(ctx, await ctx.send("GET", job.urls["get"], headers=self.headers(ctx)))

    async def cancel(self, ctx: ProbeContext, job: Job) -> None:
        await self.after_deadline(ctx, "POST", job.urls["cancel"], self.headers(ctx))

    def reported(self, job: Job) -> tuple[float | None, float | None]:
        body = job.body
        metrics = body.get("metrics") if isinstance(body.get("metrics"), dict) else {}
        predict = metrics.get("predict_time")
        return (
            _seconds(body.get("created_at"), body.get("started_at")),
            float(predict) if isinstance(predict, int | float) and math.isfinite(predict) else None,
        )

    async def output_url(self, ctx: ProbeContext, job: Job) -> str:
        body = job.body
        if body["status"] != "succeeded":
            raise ProbeFailure(
                classify(200, body),
                f"prediction {body['status']}: {body.get('error') or 'no error'}",
            )
        output = body.get("output")
        if isinstance(output, list) and output:
            output = output[0]
        if not isinstance(output, str) or not output:
            raise ProbeFailure(Outcome.INVALID_OUTPUT, "prediction succeeded without a file URI")
        return output

    async def control(self, ctx: ProbeContext) -> None:
        options = ctx.options
        assert isinstance(options, ReplicateOptions)
        response = await ctx.send(
            "GET", f"{options.api_url}/models/{ctx.provider_model}", headers=self.headers(ctx)
        )
        if response.status_code != 200:
            raise _fail(response)
        json_object(ctx, response, "model")

    async def list_models(self, ctx: ProbeContext) -> list[ListedModel]:
        """Replicate's text-to-image collection (official image models are in it)."""
        options = ctx.options
        assert isinstance(options, ReplicateOptions)
        return await replicate_models(ctx, str(options.api_url).rstrip("/"), self.headers(ctx))
