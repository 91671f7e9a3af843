"""What the fake Google APIs answer: Google's error envelope, ``:predict`` bodies, and the
failures a scenario asks for (faults, account problems, the safety system's 400).

Shared by the fake Vertex AI and the fake Gemini API (monitor/sim/google.py); the
``surface`` arguments are its :class:`Surface` values.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.responses import HTMLResponse, JSONResponse, Response

from monitor.sim._common import image_bytes
from monitor.sim.scenario import Behaviour, Decision, Fault


@dataclass(frozen=True)
class Surface:
    """What differs between the two fakes; the handlers below are shared."""

    fake: str
    service: str
    versions: tuple[str, ...]
    #: Imagen parameters this surface rejects, and values it rejects
    rejected: frozenset[str]
    rejected_values: dict[str, str]
    #: Vertex checks ``contents[].role``; Gemini defaults it to ``user``
    needs_role: bool
    not_found: Callable[[str, str, str], str]
    #: Gemini adds QuotaFailure and RetryInfo to a 429; Vertex says only "exhausted"
    retry_info: bool
    #: 5xx statuses answered in the one-element array form
    wrapped: frozenset[int]
    #: the model resource a metadata GET answers
    describe: Callable[[str], dict[str, Any]]


_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


def error(
    status: int,
    message: str,
    details: list[dict[str, Any]] | None = None,
    *,
    wrap: bool = False,
    state: str | None = None,
) -> JSONResponse:
    """Google's envelope; ``wrap`` sends it as a one-element array, as Google sometimes does.

    ``state`` overrides the status name the HTTP code implies (FAILED_PRECONDITION is a 400).
    """
    name = state or _STATUS.get(status, "INTERNAL" if status >= 500 else "UNKNOWN")
    err: dict[str, Any] = {"code": status, "message": message, "status": name}
    if details:
        err["details"] = details
    body: Any = [{"error": err}] if wrap else {"error": err}
    return JSONResponse(body, status_code=status)


def info(reason: str, service: str, **metadata: str) -> dict[str, Any]:
    """A ``google.rpc.ErrorInfo`` detail."""
    return {
        "@type": _ERROR_INFO,
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": service, **metadata},
    }


def vertex_model(model: str) -> dict[str, Any]:
    """A Vertex publisher model resource (publishers.models.get)."""
    return {
        "name": f"publishers/google/models/{model}",
        "versionId": "001",
        "openSourceCategory": "PROPRIETARY",
        "launchStage": "GA",
        "publisherModelTemplate": (
            "projects/{project}/locations/{location}/publishers/google/models/" + model
        ),
    }


def failure(
    surface: Surface, decision: Decision, model: str, method: str, version: str
) -> Response | None:
    """The answer for a scenario fault (retired, rate limited, 5xx), or None."""
    if decision.fault == Fault.RETIRED:
        return error(404, surface.not_found(model, method, version))
    if decision.fault == Fault.RATE_LIMITED:
        if not surface.retry_info:
            return error(429, "Resource exhausted. Please try again later.")
        metric = f"{surface.service}/predict_requests_per_model_per_minute"
        return error(
            429,
            "You exceeded your current quota. Please retry later.",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaMetric": metric,
                            "quotaId": "PredictRequestsPerMinutePerModel",
                            "quotaDimensions": {"model": model},
                        }
                    ],
                },
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": f"{decision.retry_after_s}s",
                },
            ],
        )
    if decision.fault in (Fault.SERVER_ERROR, Fault.UNAVAILABLE):
        text = (
            "The service is currently unavailable."
            if decision.status == 503
            else "Internal error encountered."
        )
        return error(decision.status, text, wrap=decision.status in surface.wrapped)
    return None


def account_failure(surface: Surface, behaviour: Behaviour, model: str) -> Response | None:
    """A billable call refused for our account, in the body each surface really sends.

    Sources (tests/fixtures/answers/{vertex,gemini} hold them with their URLs): Gemini's
    zero quota (googleapis/js-genai#1322), "only accessible to billed users"
    (ammaarreshi/openjourney#1), a leaked key (continuedev/continue#11541), the location
    refusal (poenl/gemini-api#4); Vertex's BILLING_DISABLED
    (GoogleCloudPlatform/php-docs-samples#1235), IAM_PERMISSION_DENIED
    (rhel-lightspeed/linux-mcp-server#450) and the bad-token 401 the auth check sends.
    """
    problem = behaviour.account
    if problem in (None, "ok"):
        return None
    service = surface.service
    if surface.fake == "gemini":
        if problem == "exhausted":
            return error(
                429,
                "You exceeded your current quota, please check your plan and billing details."
                "\n* Quota exceeded for metric: generativelanguage.googleapis.com/"
                f"generate_content_free_tier_requests, limit: 0, model: {model}\n",
            )
        if problem == "billing":
            return error(400, "Imagen API is only accessible to billed users at this time.")
        if problem == "key":
            return error(403, "Your API key was reported as leaked. Please use another API key.")
        return error(
            400, "User location is not supported for the API use.", state="FAILED_PRECONDITION"
        )
    if problem in ("exhausted", "billing"):  # Vertex bills through the project's account
        return error(
            403,
            "This API method requires billing to be enabled. Please enable billing on project "
            "#sim-project by visiting https://console.developers.google.com/billing/enable"
            "?project=sim-project then retry.",
            [info("BILLING_DISABLED", service, consumer="projects/sim-project")],
        )
    if problem == "key":
        return error(
            401,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, "
            "login cookie or other valid authentication credential.",
            [info("ACCESS_TOKEN_TYPE_UNSUPPORTED", service)],
        )
    return error(
        403,
        "Permission 'aiplatform.endpoints.predict' denied on resource "
        f"'//aiplatform.googleapis.com/publishers/google/models/{model}' (or it may not exist).",
        [info("IAM_PERMISSION_DENIED", service, permission="aiplatform.endpoints.predict")],
    )


def prompt_block() -> Response:
    """The safety system refusing a prompt: a 400, not a 200 with filtered slots.

    Body as quoted in github.com/google-marketing-solutions/adios/issues/62 (Vertex); the
    Gemini API's Imagen is assumed to answer alike (UNCONFIRMED).
    """
    return error(
        400,
        "Image generation failed with the following error: The prompt could not be "
        "submitted. Your current safety filter threshold prohibited one or more words in "
        "this prompt. If you think this was an error, send feedback. Support codes: 61493863",
    )


#: Google's front end answers a path no API serves with this HTML page, whatever the API;
#: shortened from the page google-genai passes on in github.com/AstrBotDevs/AstrBot/issues/7653
_NOT_FOUND_PAGE = (
    "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n"
    "  <title>Error 404 (Not Found)!!1</title>\n"
    "  <a href=//www.google.com/><span id=logo aria-label=Google></span></a>\n"
    "  <p><b>404.</b> <ins>That\u2019s an error.</ins>\n"
    "  <p>The requested URL <code>{path}</code> was not found on this server."
    "  <ins>That\u2019s all we know.</ins>\n"
)


def not_found_page(path: str) -> Response:
    """The HTML 404 of Google's front end, for a URL no Google API serves."""
    safe = path.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return HTMLResponse(_NOT_FOUND_PAGE.format(path=safe), status_code=404)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def predict_answer(args: dict[str, Any], filtered: bool) -> dict[str, Any]:
    """A ``:predict`` answer: the images, or the filtered slots (or nothing) when blocked."""
    if filtered:  # the blocked image is dropped; its reason stays only if asked for
        reason = (
            "Your current safety filter threshold filtered out the generated image. "
            "Support codes: 56562880"
        )
        return {"predictions": [{"raiFilteredReason": reason}]} if args["rai"] else {}
    width, height = args["size"]
    raw, mime = image_bytes(width, height, args["fmt"])
    scores = {"categories": ["Violence"], "scores": [0.1]}
    predictions: list[dict[str, Any]] = []
    for _ in range(args["n"]):
        item: dict[str, Any] = {"bytesBase64Encoded": b64(raw), "mimeType": mime}
        if args["enhance"]:
            item["prompt"] = f"{args['prompt']}, crisp detail, balanced composition"
        if args["safety"]:
            item["safetyAttributes"] = scores
        predictions.append(item)
    if args["safety"]:
        predictions.append({"contentType": "Positive Prompt", "safetyAttributes": scores})
    return {"predictions": predictions}
