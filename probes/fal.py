"""fal.ai model APIs: the queue (``https://queue.fal.run``) or the sync run (``https://fal.run``).

Queue: submit ``POST {queue}/{endpoint_id}``, poll the returned ``status_url`` (HTTP 202
while IN_QUEUE / IN_PROGRESS, 200 once COMPLETED), read ``response_url``, download
``images[0].url``. Control: ``GET {api}/models?endpoint_id=`` (no key needed; ``status``
deprecated means retired) and, with a key, ``GET {api}/models/pricing`` (proves the key).

Every submit carries ``X-Fal-Request-Timeout`` (fal's time-to-start deadline) from the
probe's deadline, so a request still queued when an agent died never starts, and is never
billed (https://docs.fal.ai/documentation/model-apis/common-parameters).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import httpx
from pydantic import BaseModel

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
from probes._listings import fal_models

_STATES = {"IN_QUEUE": JobState.QUEUED, "IN_PROGRESS": JobState.RUNNING, "COMPLETED": JobState.DONE}
#: the typical status of each request error type (fal's request-errors reference,
#: https://fal.ai/docs/documentation/model-apis/request-errors): a COMPLETED status that
#: carries one is classified as that status would be
_ERROR_TYPE_STATUS = {
    "request_timeout": 504,
    "startup_timeout": 504,
    "runner_scheduling_failure": 503,
    "runner_connection_timeout": 503,
    "runner_disconnected": 503,
    "runner_connection_refused": 503,
    "runner_connection_error": 503,
    "runner_incomplete_response": 502,
    "runner_server_error": 500,
    "internal_error": 500,
    "client_disconnected": 499,
    "client_cancelled": 499,
    "bad_request": 400,
}
#: fal-client requires a start timeout above 1 s (``_headers.add_timeout_header``)
_MIN_START_TIMEOUT_S = 1


class FalOptions(JobOptions):
    mode: Literal["queue", "sync"] = "queue"
    queue_url: HttpUrl = "https://queue.fal.run"
    run_url: HttpUrl = "https://fal.run"
    api_url: HttpUrl = "https://api.fal.ai/v1"


def classify(
    status: int,
    body: Any,
    error_type: str | None = None,
    *,
    names_model: bool = False,
    timeout_type: str | None = None,
) -> Outcome:
    """The outcome of a fal error answer, or of a 2xx COMPLETED status carrying ``error_type``.

    ``error_type`` decides only for a COMPLETED-with-error (through its typical status) and
    among 5xx; a 4xx is its status (fal's 400 ``bad_request`` and 499 ``client_cancelled``
    are not the provider's failure). A 504 with ``X-Fal-Request-Timeout-Type`` is our own
    start deadline passing: ``timeout`` (fal-client never retries it). A 404 means the model
    is gone only on a call that names it, in fal's JSON envelope (``names_model``).
    """
    envelope = isinstance(body, dict)
    body = body if isinstance(body, dict) else {}
    error_type = error_type or body.get("error_type")
    detail = body["detail"] if isinstance(body.get("detail"), list) else []
    kinds = {d.get("type") for d in detail if isinstance(d, dict)}
    if "content_policy_violation" in kinds or error_type == "content_policy_violation":
        return Outcome.CONTENT_FILTERED
    if 200 <= status < 300:  # COMPLETED with an error
        if not error_type:
            return Outcome.PROTOCOL_ERROR
        status = _ERROR_TYPE_STATUS.get(str(error_type), 500)
    if status == 504 and timeout_type:
        return Outcome.TIMEOUT
    if status in (404, 410):
        return Outcome.MODEL_UNAVAILABLE if names_model and envelope else Outcome.PROTOCOL_ERROR
    return status_outcome(status)


def _fail(response: httpx.Response, *, names_model: bool = False) -> ProbeFailure:
    status = response.status_code
    body = body_of(response)
    error_type = response.headers.get("x-fal-error-type")
    if isinstance(body, dict):
        detail = body.get("detail")
        error_type = error_type or body.get("error_type")
        message = f"HTTP {status} {error_type or 'error'}: {detail}"
    else:
        detail = response.text[:200]
        kind = response.headers.get("content-type", "no content type")
        message = f"HTTP {status} answer is not JSON ({kind}): {detail}"
    timeout_type = response.headers.get("x-fal-request-timeout-type")
    outcome = classify(status, body, error_type, names_model=names_model, timeout_type=timeout_type)
    if outcome is Outcome.AUTH_ERROR:
        message = account_message(account_problem(status, str(detail)) or "key", message)
    elif outcome is Outcome.TIMEOUT:
        message = f"fal's start deadline (X-Fal-Request-Timeout, {timeout_type}): {message}"
    retry_after = retry_after_seconds(response.headers)
    if retry_after is not None:
        message += f" (retry after {retry_after:g}s)"
    return ProbeFailure(outcome, message, http_status=status, retry_after_s=retry_after)


class FalProbe(JobProbe):
    Options: ClassVar[type[BaseModel]] = FalOptions
    # LiteLLM ``fal_ai/`` (litellm.get_llm_provider). Portkey has no fal provider
    # (Portkey-AI/gateway src/globals.ts) and fal is not an OpenRouter provider (UNCONFIRMED)
    gateways: ClassVar[GatewayNames] = GatewayNames(litellm="fal_ai")
    fake: ClassVar[str] = "fal"
    #: for the contract test: fal's queue holds a request over the account's concurrency
    #: limit rather than refusing it; only the synchronous run answers 429
    contract_options: ClassVar[dict[Outcome, dict[str, Any]]] = {
        Outcome.RATE_LIMITED: {"mode": "sync"}
    }

    def headers(self, ctx: ProbeContext) -> dict[str, str]:
        # public models also run without a key (so a success does not prove the key)
        return {"Authorization": f"Key {ctx.secret}"} if ctx.secret else {}

    async def submit(self, ctx: ProbeContext) -> Job:
        options = ctx.options
        assert isinstance(options, FalOptions)
        base = options.run_url if options.mode == "sync" else options.queue_url
        body = {"prompt": ctx.prompt, **ctx.params}
        headers = self.headers(ctx)
        start_by = int(ctx.time_left())  # whole seconds, rounded down: never past ours
        if start_by > _MIN_START_TIMEOUT_S:
            headers["X-Fal-Request-Timeout"] = str(start_by)
        response = await ctx.send(
            "POST", f"{base}/{ctx.provider_model}", json=body, headers=headers
        )
        if not 200 <= response.status_code < 300:  # any 2xx, as fal-client accepts
            raise _fail(response, names_model=True)
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
        if response.status_code in (404, 410):
            raise lost_job(response, "status")
        if not 200 <= response.status_code < 300:  # 202 while queued or running, 200 done
            raise _fail(response)
        status = json_object(ctx, response, "status")
        state = _STATES.get(status.get("status"))  # type: ignore[arg-type]
        if state is None:
            raise ProbeFailure(Outcome.PROTOCOL_ERROR, f"unknown status {status.get('status')}")
        return Job(job.id, state, status, job.urls)

    async def cancel(self, ctx: ProbeContext, job: Job) -> None:
        await self.after_deadline(ctx, "PUT", job.urls["cancel"], self.headers(ctx))

    def reported(self, job: Job) -> tuple[float | None, float | None]:
        # inference is fal's own metric; fal reports no start time, so the loop takes the
        # queue as the elapsed time minus this (never counting inference twice)
        metrics = job.body.get("metrics") if isinstance(job.body, dict) else None
        seconds = metrics.get("inference_time") if isinstance(metrics, dict) else None
        if isinstance(seconds, int | float) and math.isfinite(seconds):
            return None, float(seconds)
        return None, None

    async def output_url(self, ctx: ProbeContext, job: Job) -> str:
        result = job.body
        if "response" in job.urls:  # queue mode: COMPLETED, now read the result
            response = await ctx.send("GET", job.urls["response"], headers=self.headers(ctx))
            if response.status_code in (404, 410):
                raise lost_job(response, "result")
            if not 200 <= response.status_code < 300:
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
            raise _fail(response, names_model=True)
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
                raise _fail(response, names_model=True)

    async def list_models(self, ctx: ProbeContext) -> list[ListedModel]:
        """fal's model search (text-to-image), with its ``deprecated`` status."""
        options = ctx.options
        assert isinstance(options, FalOptions)
        return await fal_models(ctx, str(options.api_url).rstrip("/"), self.headers(ctx))
