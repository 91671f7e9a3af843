"""fal.ai model APIs: the queue (``https://queue.fal.run``) or the sync run (``https://fal.run``).

Queue: submit ``POST {queue}/{endpoint_id}``, poll the returned ``status_url`` (HTTP 202
while IN_QUEUE / IN_PROGRESS, 200 once COMPLETED), read ``response_url``, download
``images[0].url``. Control: ``GET {api}/models?endpoint_id=`` (no key needed; ``status``
deprecated means retired) and, with a key, ``GET {api}/models/pricing`` (proves the key).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import httpx
from pydantic import BaseModel

from monitor.http import retry_after_seconds
from monitor.interfaces import ListedModel, Outcome, ProbeFailure
from monitor.probe_context import ProbeContext
from probes._jobs import HttpUrl, Job, JobOptions, JobProbe, JobState, body_of, json_object
from probes._listings import fal_models

_STATES = {"IN_QUEUE": JobState.QUEUED, "IN_PROGRESS": JobState.RUNNING, "COMPLETED": JobState.DONE}


class FalOptions(JobOptions):
    mode: Literal["queue", "sync"] = "queue"
    queue_url: HttpUrl = "https://queue.fal.run"
    run_url: HttpUrl = "https://fal.run"
    api_url: HttpUrl = "https://api.fal.ai/v1"


def classify(status: int, body: Any, error_type: str | None = None) -> Outcome:
    """The outcome of a fal error answer, or of a COMPLETED status carrying ``error_type``."""
    body = body if isinstance(body, dict) else {}
    error_type = error_type or body.get("error_type")
    detail = body["detail"] if isinstance(body.get("detail"), list) else []
    kinds = {d.get("type") for d in detail if isinstance(d, dict)}
    if "content_policy_violation" in kinds or error_type == "content_policy_violation":
        return Outcome.CONTENT_FILTERED
    if status in (401, 403):
        return Outcome.AUTH_ERROR
    if status in (404, 410):
        return Outcome.MODEL_UNAVAILABLE
    if status == 429:
        return Outcome.RATE_LIMITED
    # request_timeout / startup_timeout (504) are fal's own limits expiring while provmon's
    # deadline had not: a provider failure, transient, so server_error rather than timeout
    if status >= 500 or error_type:
        return Outcome.SERVER_ERROR
    if status >= 400:
        return Outcome.BAD_REQUEST
    return Outcome.PROTOCOL_ERROR


def _fail(response: httpx.Response) -> ProbeFailure:
    body = body_of(response)
    error_type = response.headers.get("x-fal-error-type")
    detail = body.get("detail") if isinstance(body, dict) else response.text[:200]
    return ProbeFailure(
        classify(response.status_code, body, error_type),
        f"HTTP {response.status_code} {error_type or 'error'}: {detail}",
        http_status=response.status_code,
        retry_after_s=retry_after_seconds(response.headers),
    )


class FalProbe(JobProbe):
    Options: ClassVar[type[BaseModel]] = FalOptions

    def headers(self, ctx: ProbeContext) -> dict[str, str]:
        # public models also run without a key (so a success does not prove the key)
        return {"Authorization": f"Key {ctx.secret}"} if ctx.secret else {}

    async def submit(self, ctx: ProbeContext) -> Job:
        options = ctx.options
        assert isinstance(options, FalOptions)
        base = options.run_url if options.mode == "sync" else options.queue_url
        body = {"prompt": ctx.prompt, **ctx.params}
        response = await ctx.send(
            "POST", f"{base}/{ctx.provider_model}", json=body, headers=self.headers(ctx)
        )
        if response.status_code != 200:
            raise _fail(response)
        answer = json_object(ctx, response, "submit")
        if options.mode == "sync":  # the answer is the result itself
            return Job(response.headers.get("x-fal-request-id"), JobState.DONE, answer)
        # status/result/cancel live under owner/app without the subpath: use fal's URLs
        urls = {k: answer.get(f"{k}_url") for k in ("status", "response", "cancel")}
        if not isinstance(answer.get("request_id"), str) or not all(
            isinstance(u, str) for u in urls.values()
        ):
            raise ProbeFailure(Outcome.PROTOCOL_ERROR, "submit answer lacks request_id or URLs")
        return Job(answer["request_id"], JobState.QUEUED, answer, urls)  # type: ignore[arg-type]

    async def poll(self, ctx: ProbeContext, job: Job) -> Job:
        response = await ctx.send(
            "GET", job.urls["status"], params={"logs": "1"}, headers=self.headers(ctx)
        )
        if response.status_code not in (200, 202):
            raise _fail(response)
        status = json_object(ctx, response, "status")
        state = _STATES.get(status.get("status"))  # type: ignore[arg-type]
        if state is None:
            raise ProbeFailure(Outcome.PROTOCOL_ERROR, f"unknown status {status.get('status')}")
        return Job(job.id, state, status, job.urls)

    async def cancel(self, ctx: ProbeContext, job: Job) -> None:
        await self.after_deadline(ctx, "PUT", job.urls["cancel"], self.headers(ctx))

    def reported(self, job: Job) -> tuple[float | None, float | None]:
        # queue stays measured (fal reports no start time); inference is fal's own metric
        metrics = job.body.get("metrics") if isinstance(job.body, dict) else None
        seconds = metrics.get("inference_time") if isinstance(metrics, dict) else None
        if isinstance(seconds, int | float) and math.isfinite(seconds):
            return None, float(seconds)
        return None, None

    async def output_url(self, ctx: ProbeContext, job: Job) -> str:
        result = job.body
        if "response" in job.urls:  # queue mode: COMPLETED, now read the result
            response = await ctx.send("GET", job.urls["response"], headers=self.headers(ctx))
            if response.status_code != 200:
                raise _fail(response)
            if job.body.get("error") or job.body.get("error_type"):
                raise ProbeFailure(
                    classify(200, job.body),
                    f"completed with {job.body.get('error_type')}: {job.body.get('error')}",
                )
            result = json_object(ctx, response, "result")
        images = result.get("images")
        if not isinstance(images, list):
            raise ProbeFailure(Outcome.PROTOCOL_ERROR, "result has no images list")
        if not images:
            raise ProbeFailure(Outcome.CONTENT_FILTERED, "result has no images")
        url = images[0].get("url") if isinstance(images[0], dict) else None
        if not isinstance(url, str):
            raise ProbeFailure(Outcome.INVALID_OUTPUT, "images[0] has no url")
        return url

    async def control(self, ctx: ProbeContext) -> None:
        options = ctx.options
        assert isinstance(options, FalOptions)
        query = {"endpoint_id": ctx.provider_model}
        response = await ctx.send(
            "GET", f"{options.api_url}/models", params=query, headers=self.headers(ctx)
        )
        if response.status_code != 200:
            raise _fail(response)
        models = json_object(ctx, response, "models").get("models")
        found = [
            m
            for m in models or []
            if isinstance(m, dict) and m.get("endpoint_id") == ctx.provider_model
        ]
        if not found:
            raise ProbeFailure(Outcome.MODEL_UNAVAILABLE, f"{ctx.provider_model} is not listed")
        # fal's docs put status in metadata; the top level is tolerated too (UNCONFIRMED)
        if "deprecated" in (found[0].get("status"), (found[0].get("metadata") or {}).get("status")):
            raise ProbeFailure(Outcome.MODEL_UNAVAILABLE, f"{ctx.provider_model} is deprecated")
        if ctx.secret:  # the models list works without a key; pricing proves the key
            response = await ctx.send(
                "GET", f"{options.api_url}/models/pricing", params=query, headers=self.headers(ctx)
            )
            if response.status_code != 200:
                raise _fail(response)

    async def list_models(self, ctx: ProbeContext) -> list[ListedModel]:
        """fal's model search (text-to-image), with its ``deprecated`` status."""
        options = ctx.options
        assert isinstance(options, FalOptions)
        return await fal_models(ctx, str(options.api_url).rstrip("/"), self.headers(ctx))
