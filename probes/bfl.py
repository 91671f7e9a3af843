"""Black Forest Labs' API (``https://api.bfl.ai``): FLUX.2 and FLUX1.1 endpoints.

Submit ``POST {base}/v1/{endpoint}`` (``flux-2-pro``, ``flux-2-klein-4b`` ...) with the key in
``x-key`` and ``{prompt, width, height, output_format, ...}``; the answer is ``{id,
polling_url, cost?, input_mp?, output_mp?}`` (``cost`` in credits, 1 credit = $0.01;
megapixels to two places: BFL's OpenAPI ``AsyncResponse``, as SDKs generated from it show).
Poll the returned ``polling_url`` as given: it may be on a regional host (``api.eu.bfl.ai``,
``gateway.bfl.ai``); the key goes only to BFL's own hosts (``key_domains``) or the base
URL's origin (the simulator), never elsewhere (BerriAI/litellm
``llms/black_forest_labs/common_utils.py`` checks the same). Status ``Pending`` until
``Ready`` (``result.sample`` is a signed URL, downloaded at once: it expires in 10 minutes),
or ``Error`` / ``Failed`` (server_error), ``Content Moderated`` / ``Request Moderated``
(content_filtered) (litellm ``image_generation/transformation.py``;
https://github.com/black-forest-labs/skills ``bfl-api``). There is no cancel.

Control (free): ``GET {base}/v1/credits`` proves the key and shows credits left
(``{"credits": n}``); BFL has no model listing, so a retired endpoint shows only in a
generate probe (404).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel

from monitor.http import retry_after_seconds
from monitor.interfaces import GatewayNames, Kind, Outcome, ProbeFailure, Usage
from monitor.probe_context import ProbeContext
from probes._jobs import Job, JobOptions, JobProbe, JobState, body_of, json_object

_FILTERED = frozenset({"Content Moderated", "Request Moderated"})
_FAILED = frozenset({"Error", "Failed"})
#: a credit is one US cent (BFL pricing: "1 credit = $0.01")
CREDIT_USD = Decimal("0.01")


class BflOptions(JobOptions):
    #: registered domains whose hosts (and subdomains) may receive the key on a polling URL
    key_domains: tuple[str, ...] = ("bfl.ai",)


def classify(status: int, body: Any) -> Outcome:
    """The outcome of a non-200 answer to a submit (never used for a polling URL)."""
    if status in (401, 402, 403):  # 402: the account's credits are spent
        return Outcome.AUTH_ERROR
    if status in (404, 410):
        return Outcome.MODEL_UNAVAILABLE
    if status == 429:
        return Outcome.RATE_LIMITED
    if status >= 500:
        return Outcome.SERVER_ERROR
    if 400 <= status < 500:
        return Outcome.BAD_REQUEST
    return Outcome.PROTOCOL_ERROR


def _detail(response: httpx.Response) -> str:
    body = body_of(response)
    if isinstance(body, dict):
        for name in ("detail", "message", "error"):
            if body.get(name):
                return str(body[name])[:300]
    return response.text[:200]


def _fail(response: httpx.Response, outcome: Outcome | None = None) -> ProbeFailure:
    return ProbeFailure(
        outcome or classify(response.status_code, body_of(response)),
        f"HTTP {response.status_code}: {_detail(response)}",
        http_status=response.status_code,
        retry_after_s=retry_after_seconds(response.headers),
    )


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() and number >= 0 else None


def usage_of(answer: dict[str, Any]) -> Usage | None:
    """The submit answer's ``cost`` (credits) and ``output_mp``; None when it has neither."""
    credits, megapixels = _number(answer.get("cost")), _number(answer.get("output_mp"))
    if credits is None and megapixels is None:
        return None
    cost = credits * CREDIT_USD if credits is not None else None
    return Usage(megapixels=megapixels, reported_cost_usd=cost)


class BflProbe(JobProbe):
    Options: ClassVar[type[BaseModel]] = BflOptions
    # LiteLLM ``black_forest_labs/<endpoint>`` (1.106.2 knows FLUX.1 names only and refuses
    # FLUX.2 ones at request time); OpenRouter's BFL provider slug is UNCONFIRMED (an issue
    # thread names ``black-forest-labs``); Portkey has no BFL provider (src/globals.ts)
    gateways: ClassVar[GatewayNames] = GatewayNames(
        litellm="black_forest_labs", openrouter="black-forest-labs"
    )
    fake: ClassVar[str] = "bfl"
    #: for the contract test: BFL has no free call that names a model (its control call reads
    #: the account's credits), so control cannot say a model is gone
    contract_unreachable: ClassVar[frozenset[tuple[Outcome, Kind]]] = frozenset(
        {(Outcome.MODEL_UNAVAILABLE, Kind.CONTROL)}
    )

    def _headers(self, ctx: ProbeContext, url: str) -> dict[str, str]:
        """The key, if ``url`` is on BFL's own hosts or the base URL's origin."""
        options = ctx.options
        assert isinstance(options, BflOptions)
        target, base = urlsplit(url), urlsplit(ctx.base_url)
        host = (target.hostname or "").lower()
        ours = any(host == d or host.endswith("." + d) for d in options.key_domains)
        same_origin = (target.scheme, target.netloc) == (base.scheme, base.netloc)
        if ctx.secret and target.scheme in ("http", "https") and (ours or same_origin):
            return {"x-key": ctx.secret}
        return {}

    async def submit(self, ctx: ProbeContext) -> Job:
        body = {"prompt": ctx.prompt, **ctx.params}
        url = f"{ctx.base_url}/v1/{ctx.provider_model}"
        response = await ctx.send("POST", url, json=body, headers=self._headers(ctx, url))
        if response.status_code != 200:
            raise _fail(response)
        answer = json_object(ctx, response, "submit")
        polling_url, job_id = answer.get("polling_url"), answer.get("id")
        if not isinstance(polling_url, str) or not polling_url.startswith(("http://", "https://")):
            raise ProbeFailure(Outcome.PROTOCOL_ERROR, "submit answer has no polling_url")
        # UNCONFIRMED whether a moderated job's credits are refunded: the submit reported them
        ctx.usage = usage_of(answer)
        return Job(
            id=job_id if isinstance(job_id, str) else None,
            state=JobState.QUEUED,
            body=answer,
            urls={"status": polling_url},
        )

    async def poll(self, ctx: ProbeContext, job: Job) -> Job:
        url = job.urls["status"]
        response = await ctx.send("GET", url, headers=self._headers(ctx, url))
        if response.status_code != 200:
            # a job URL's 404 means a lost job, never a retired model
            outcome = Outcome.SERVER_ERROR if response.status_code >= 500 else None
            if outcome is None and response.status_code not in (401, 403, 429):
                outcome = Outcome.PROTOCOL_ERROR
            raise _fail(response, outcome)
        answer = json_object(ctx, response, "polling")
        status = answer.get("status")
        if status == "Ready" or status in _FILTERED or status in _FAILED:
            state = JobState.DONE
        elif status == "Pending":
            # UNCONFIRMED: ``progress`` stays null until the job runs, so a number means
            # inference has started (BFL's OpenAPI lists the field; its semantics are ours)
            running = isinstance(answer.get("progress"), int | float)
            state = JobState.RUNNING if running else JobState.QUEUED
        else:
            raise ProbeFailure(Outcome.PROTOCOL_ERROR, f"unknown job status {status!r}"[:200])
        return Job(id=job.id, state=state, body=answer, urls=job.urls)

    async def cancel(self, ctx: ProbeContext, job: Job) -> None:
        """BFL has no cancel call; never registered (no ``cancel`` URL)."""

    async def output_url(self, ctx: ProbeContext, job: Job) -> str:
        answer = job.body if isinstance(job.body, dict) else {}
        status = str(answer.get("status"))
        if status in _FILTERED:
            details = answer.get("details")
            reasons = details.get("Moderation Reasons") if isinstance(details, dict) else None
            why = f" ({', '.join(map(str, reasons))})" if isinstance(reasons, list) else ""
            raise ProbeFailure(Outcome.CONTENT_FILTERED, f"job status {status}{why}"[:500])
        if status in _FAILED:
            why = answer.get("details") or answer.get("error") or ""
            raise ProbeFailure(Outcome.SERVER_ERROR, f"job status {status} {why}"[:500].strip())
        result = answer.get("result")
        sample = result.get("sample") if isinstance(result, dict) else None
        if not isinstance(sample, str) or not sample.startswith(("http://", "https://")):
            raise ProbeFailure(Outcome.PROTOCOL_ERROR, "Ready job has no result.sample URL")
        return sample  # a signed URL: downloaded without the key

    async def control(self, ctx: ProbeContext) -> None:
        url = f"{ctx.base_url}/v1/credits"
        response = await ctx.send("GET", url, headers=self._headers(ctx, url))
        if response.status_code != 200:  # a 404 here is a wrong base URL, not a model
            missing = response.status_code == 404
            raise _fail(response, Outcome.PROTOCOL_ERROR if missing else None)
        answer = json_object(ctx, response, "credits")
        credits = _number(answer.get("credits"))
        if credits is None:
            raise ProbeFailure(Outcome.PROTOCOL_ERROR, "credits answer has no credits number")
        if credits <= 0:
            raise ProbeFailure(Outcome.AUTH_ERROR, "no BFL credits left")
