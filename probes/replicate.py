"""Replicate predictions API (``https://api.replicate.com/v1``), official models.

``POST /models/{owner}/{name}/predictions`` with ``Prefer: wait=N`` holds the request up to
N seconds; an answer still ``starting`` is then polled at ``urls.get`` until ``succeeded``,
``failed``, ``canceled`` or ``aborted``. A held answer still ``processing`` but already
carrying its output is done ("the output field will contain all file outputs but status may
still be processing": https://replicate.com/docs/topics/predictions/create-a-prediction).
``output`` is one file URI for imagen-4 (a list is accepted too), or a ``data:`` URI in sync
mode; files are fetched with the API token, sent only to Replicate's own hosts (its SDK
fetches outputs with its authenticated client). Every create carries ``Cancel-After`` (at
least 5 s, Replicate's minimum) from the probe's deadline, so a prediction an agent left
behind ends ``aborted``, unbilled. Errors are RFC 7807 ``{type, title, status, detail}``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import urllib.parse
from typing import Annotated, Any, ClassVar

import httpx
from pydantic import BaseModel, Field

from monitor.http import account_message, account_problem, retry_after_seconds, status_outcome
from monitor.interfaces import GatewayNames, ListedModel, Outcome, ProbeFailure
from monitor.probe_context import ProbeContext
from probes._jobs import (
    HttpUrl,
    Job,
    JobOptions,
    JobProbe,
    JobState,
    body_of,
    json_object,
    lost_job,
)
from probes._listings import replicate_models

_STATES = {"starting": JobState.QUEUED, "processing": JobState.RUNNING}
#: a hold must end this long before the deadline, so the answer (and its cancel URL) arrives
_WAIT_MARGIN_S = 2.0
#: Replicate's safety block is a ``failed`` prediction whose error text is UNCONFIRMED
_SAFETY = re.compile(r"safety|nsfw|sensitive|flagged", re.IGNORECASE)
#: the wait in a 429's text: today's "resets in ~30s" and the older "Expected available in
#: 1 second." (https://replicate.com/docs/topics/predictions/rate-limits)
_RESETS_IN = re.compile(
    r"~\s*(\d+(?:\.\d+)?)\s*s\b|expected available in\s+(\d+(?:\.\d+)?)\s*sec", re.I
)
#: Replicate's minimum ``Cancel-After`` (https://replicate.com/changelog/2025-10-16-prediction-deadlines)
MIN_CANCEL_AFTER_S = 5
#: hosts that serve Replicate's output files, the only ones the API token is sent to
_FILE_HOSTS = ("replicate.delivery", "api.replicate.com")


class ReplicateOptions(JobOptions):
    api_url: HttpUrl = "https://api.replicate.com/v1"
    #: seconds the create request may be held (``Prefer: wait``); 0 disables it
    prefer_wait: Annotated[int, Field(ge=0, le=60)] = 60
    #: ``Cancel-After`` seconds: Replicate aborts (unbilled) a prediction still running then;
    #: unset: the probe's deadline (at least Replicate's minimum of 5 s)
    cancel_after: Annotated[int, Field(ge=MIN_CANCEL_AFTER_S, le=86_400)] | None = None


def classify(status: int, body: Any, *, names_model: bool = False) -> Outcome:
    """An RFC 7807 error answer, or a 2xx prediction that ended without succeeding.

    ``aborted`` is our own ``Cancel-After`` deadline passing: ``timeout``. A 404 means the
    model is gone only on a call that names it, in Replicate's JSON envelope.
    """
    envelope = isinstance(body, dict)
    body = body if isinstance(body, dict) else {}
    if 200 <= status < 300:
        if body.get("status") == "aborted":
            return Outcome.TIMEOUT
        if body.get("status") == "failed" and _SAFETY.search(str(body.get("error") or "")):
            return Outcome.CONTENT_FILTERED
        if body.get("status") in ("failed", "canceled"):
            return Outcome.SERVER_ERROR
        return Outcome.PROTOCOL_ERROR
    if status in (404, 410):
        return Outcome.MODEL_UNAVAILABLE if names_model and envelope else Outcome.PROTOCOL_ERROR
    return status_outcome(status)


def _retry_after(response: httpx.Response, body: Any, detail: str) -> float | None:
    """The header (seconds or a date), else the body's ``retry_after``, else the text."""
    seconds = retry_after_seconds(response.headers)
    if seconds is None and isinstance(body, dict):
        given = body.get("retry_after")
        if isinstance(given, int | float) and math.isfinite(given) and given >= 0:
            seconds = float(given)
    if seconds is None and (found := _RESETS_IN.search(detail)):
        seconds = float(found.group(1) or found.group(2))
    return seconds


def _fail(response: httpx.Response, *, names_model: bool = False) -> ProbeFailure:
    status = response.status_code
    body = body_of(response)
    if isinstance(body, dict):
        detail = str(body.get("detail") or body.get("title"))
        message = f"HTTP {status}: {detail}"
    else:
        detail = response.text[:200]
        kind = response.headers.get("content-type", "no content type")
        message = f"HTTP {status} answer is not JSON ({kind}): {detail}"
    outcome = classify(status, body, names_model=names_model)
    if outcome is Outcome.AUTH_ERROR:
        title = str(body.get("title") or "") if isinstance(body, dict) else ""
        problem = account_problem(status, f"{title} {detail}") or "key"
        message = account_message(problem, message)
    retry_after = _retry_after(response, body, detail)
    if retry_after is not None:
        message += f" (retry after {retry_after:g}s)"
    return ProbeFailure(outcome, message, http_status=status, retry_after_s=retry_after)


def _has_output(body: dict[str, Any]) -> bool:
    output = body.get("output")
    return bool(output) and isinstance(output, str | list)


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
    # LiteLLM ``replicate/`` (litellm.get_llm_provider); Portkey ``replicate`` (Portkey-AI/
    # gateway src/globals.ts). Replicate is not an OpenRouter provider (UNCONFIRMED)
    gateways: ClassVar[GatewayNames] = GatewayNames(litellm="replicate", portkey="replicate")
    fake: ClassVar[str] = "replicate"

    def headers(self, ctx: ProbeContext) -> dict[str, str]:
        return {"Authorization": f"Bearer {ctx.secret}"} if ctx.secret else {}

    def _job(self, ctx: ProbeContext, response: httpx.Response, *, created: bool) -> Job:
        if not created and response.status_code in (404, 410):
            raise lost_job(response, "get")
        if not 200 <= response.status_code < 300:
            raise _fail(response, names_model=created)
        body = ctx.json_body(response)
        urls = body.get("urls") if isinstance(body, dict) else None
        if not isinstance(urls, dict) or not isinstance(body.get("status"), str):
            raise ProbeFailure(Outcome.PROTOCOL_ERROR, "answer is not a prediction")
        state = _STATES.get(body["status"], JobState.DONE)
        if state is JobState.RUNNING and _has_output(body):
            state = JobState.DONE  # every file is there; the status lags behind it
        return Job(body.get("id"), state, body, {k: str(v) for k, v in urls.items()})

    async def submit(self, ctx: ProbeContext) -> Job:
        options = ctx.options
        assert isinstance(options, ReplicateOptions)
        headers = self.headers(ctx)
        wait = int(min(options.prefer_wait, ctx.time_left() - _WAIT_MARGIN_S))
        if wait >= 1:
            headers["Prefer"] = f"wait={wait}"
        cancel_after = options.cancel_after or max(MIN_CANCEL_AFTER_S, math.ceil(ctx.time_left()))
        headers["Cancel-After"] = f"{cancel_after}s"
        body = {"input": {"prompt": ctx.prompt, **ctx.params}}
        url = f"{options.api_url}/models/{ctx.provider_model}/predictions"
        response = await ctx.send("POST", url, json=body, headers=headers)
        return self._job(ctx, response, created=True)

    async def poll(self, ctx: ProbeContext, job: Job) -> Job:
        response = await ctx.send("GET", job.urls["get"], headers=self.headers(ctx))
        return self._job(ctx, response, created=False)

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

    def download_headers(self, ctx: ProbeContext, url: str) -> dict[str, str]:
        """The API token, for Replicate's own file hosts only (and the API's own host, which
        is the simulator's when the base URL points there)."""
        options = ctx.options
        assert isinstance(options, ReplicateOptions)
        host = (urllib.parse.urlsplit(url).hostname or "").lower()
        api_host = (urllib.parse.urlsplit(options.api_url).hostname or "").lower()
        ours = host in (*_FILE_HOSTS, api_host) or host.endswith(".replicate.delivery")
        return self.headers(ctx) if ours and url.lower().startswith(("https:", "http:")) else {}

    async def output_url(self, ctx: ProbeContext, job: Job) -> str:
        body = job.body
        if body["status"] != "succeeded" and not (
            body["status"] == "processing" and _has_output(body)
        ):
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
            raise _fail(response, names_model=True)
        json_object(ctx, response, "model")

    async def list_models(self, ctx: ProbeContext) -> list[ListedModel]:
        """Replicate's text-to-image collection (official image models are in it)."""
        options = ctx.options
        assert isinstance(options, ReplicateOptions)
        return await replicate_models(ctx, str(options.api_url).rstrip("/"), self.headers(ctx))
