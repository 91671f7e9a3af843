"""Google's ``:generateContent`` for Gemini image models, on the Gemini API and Vertex AI.

Both surfaces take the same body and give the same answer; only URLs and auth differ
(probes/_google.py). The request asks for an image only::

    {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
     "generationConfig": {"responseModalities": ["IMAGE"],
                          "imageConfig": {"aspectRatio": "1:1", "imageSize": "1K"},
                          "thinkingConfig": {"thinkingLevel": "MINIMAL"}}}

An offering's ``params`` are ``imageConfig`` fields (``aspectRatio``, ``imageSize``, ...),
plus ``thinkingLevel`` (sent as ``thinkingConfig.thinkingLevel``: the cheapest probe asks
for the lowest level a model has) and any ``generationConfig`` field named in
``GENERATION_FIELDS``, sent as given.

The answer (https://ai.google.dev/api/generate-content#generatecontentresponse; field names
as in google-genai's ``types.py``: ``candidates[].content.parts[].inlineData``,
``finishReason``, ``promptFeedback.blockReason``, ``usageMetadata``, ``modelVersion``,
``responseId``) is read by these rules:

- ``promptFeedback.blockReason`` (any) or a safety finish reason (``SAFETY_REASONS``) is
  ``content_filtered``; so is a STOP answer that has text but no image (the model refusing
  in words, e.g. https://github.com/google-gemini/deprecated-generative-ai-js/issues/432).
- Any other finish reason (``NO_IMAGE``, ``IMAGE_OTHER``, ``MALFORMED_RESPONSE``,
  ``MAX_TOKENS``, ``OTHER``, reasons added later) is ``invalid_output``: the model answered
  but made no usable image (``NO_IMAGE`` is distinct from a block:
  https://github.com/minimaxir/gemimg/issues/5).
- Parts marked ``thought: true`` are the model's drafts (Gemini 3 image models think in
  interim images: https://ai.google.dev/gemini-api/docs/image-generation): skipped; the LAST
  remaining image part is the answer.
- ``usageMetadata`` is read even from a failed answer, which still bills its prompt tokens.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from monitor.interfaces import Outcome, ProbeFailure, Usage
from monitor.probe_context import ProbeContext

#: finish reasons that mean a safety system stopped the image (google-genai FinishReason)
SAFETY_REASONS = frozenset(
    {
        "SAFETY",
        "IMAGE_SAFETY",
        "PROHIBITED_CONTENT",
        "IMAGE_PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "RECITATION",
        "IMAGE_RECITATION",
    }
)
#: a finished answer: STOP, or no reason given (the unset enum value)
_FINISHED = frozenset({"STOP", "FINISH_REASON_UNSPECIFIED", ""})
#: offering params sent as ``generationConfig`` fields rather than ``imageConfig`` fields
GENERATION_FIELDS = frozenset(
    {"thinkingConfig", "imageConfig", "responseModalities", "candidateCount", "seed"}
)


def request_body(prompt: str, params: dict[str, Any]) -> dict[str, Any]:
    """The ``:generateContent`` body for one image of ``prompt`` with an offering's params."""
    config: dict[str, Any] = {"responseModalities": ["IMAGE"]}
    image: dict[str, Any] = {}
    for key, value in params.items():
        if key == "thinkingLevel":
            config["thinkingConfig"] = {**config.get("thinkingConfig", {}), "thinkingLevel": value}
        elif key in GENERATION_FIELDS:
            config[key] = value
        else:
            image[key] = value
    if image:
        config["imageConfig"] = {**config.get("imageConfig", {}), **image}
    return {"contents": [{"role": "user", "parts": [{"text": prompt}]}], "generationConfig": config}


def _field(obj: Any, camel: str, snake: str) -> Any:
    # Google's JSON is camelCase; proxies that re-serialise google-genai objects answer
    # snake_case (UNCONFIRMED for Google itself): either is accepted
    return obj.get(camel, obj.get(snake)) if isinstance(obj, dict) else None


def _count(obj: Any, camel: str, snake: str) -> int | None:
    value = _field(obj, camel, snake)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _by_modality(details: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in details if isinstance(details, list) else []:
        modality = str(_field(item, "modality", "modality") or "").upper()
        count = _count(item, "tokenCount", "token_count")
        if modality and count is not None:
            out[modality] = out.get(modality, 0) + count
    return out


def usage_of(answer: Any, images: int) -> Usage | None:
    """What an answer's ``usageMetadata`` says it consumed; None when it has none.

    Output tokens split by ``candidatesTokensDetails``: IMAGE as image tokens, the rest as
    text, with ``thoughtsTokenCount`` added to text (thinking bills at the text-output rate).
    Without the breakdown, all candidate tokens count as image tokens: only an image was
    asked for (pricing image tokens as text under-bills ~10x: BerriAI/litellm#17410).
    """
    meta = _field(answer, "usageMetadata", "usage_metadata")
    if not isinstance(meta, dict):
        return None
    prompt = _count(meta, "promptTokenCount", "prompt_token_count")
    candidates = _count(meta, "candidatesTokenCount", "candidates_token_count")
    thoughts = _count(meta, "thoughtsTokenCount", "thoughts_token_count")
    prompt_split = _by_modality(_field(meta, "promptTokensDetails", "prompt_tokens_details"))
    output_split = _by_modality(
        _field(meta, "candidatesTokensDetails", "candidates_tokens_details")
    )
    input_image = prompt_split.get("IMAGE")
    input_text = max(0, prompt - (input_image or 0)) if prompt is not None else None
    if output_split:
        image_tokens: int | None = output_split.get("IMAGE", 0)
        text_tokens: int | None = sum(n for m, n in output_split.items() if m != "IMAGE")
    else:
        image_tokens, text_tokens = candidates, None
    if thoughts:
        text_tokens = (text_tokens or 0) + thoughts
    if prompt is None and image_tokens is None and text_tokens is None:
        return None
    return Usage(
        images=images,
        input_tokens=input_text,
        input_image_tokens=input_image,
        output_text_tokens=text_tokens,
        output_image_tokens=image_tokens,
    )


def _b64(data: Any) -> bytes:
    if not isinstance(data, str):
        raise ProbeFailure(Outcome.INVALID_OUTPUT, "inlineData.data is not a string")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ProbeFailure(Outcome.INVALID_OUTPUT, "inlineData.data is not base64") from None


def _parts(candidate: dict[str, Any]) -> list[dict[str, Any]]:
    parts = _field(candidate.get("content"), "parts", "parts")
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


def _image_parts(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for part in parts:
        if part.get("thought") is True:  # a draft the model thought in, not its answer
            continue
        inline = _field(part, "inlineData", "inline_data")
        mime = str(_field(inline, "mimeType", "mime_type") or "image/")
        if isinstance(inline, dict) and "data" in inline and mime.startswith("image/"):
            found.append(inline)
    return found


def image_from_candidates(answer: Any) -> bytes:
    """The image of a ``:generateContent`` answer, or the failure it reports (module rules)."""
    if not isinstance(answer, dict):
        raise ProbeFailure(Outcome.PROTOCOL_ERROR, "answer is not a JSON object", http_status=200)
    feedback = _field(answer, "promptFeedback", "prompt_feedback")
    blocked = _field(feedback, "blockReason", "block_reason")
    if blocked:
        raise ProbeFailure(Outcome.CONTENT_FILTERED, f"prompt blocked: {blocked}", http_status=200)
    candidates = answer.get("candidates") or []
    if not isinstance(candidates, list) or not all(isinstance(c, dict) for c in candidates):
        raise ProbeFailure(Outcome.PROTOCOL_ERROR, "candidates is not a list of objects")
    if not candidates:
        raise ProbeFailure(Outcome.INVALID_OUTPUT, "answer has no candidates", http_status=200)
    candidate = candidates[0]
    finish = str(_field(candidate, "finishReason", "finish_reason") or "").upper()
    if finish in SAFETY_REASONS:
        message = _field(candidate, "finishMessage", "finish_message")
        why = f"finishReason {finish}" + (f": {message}" if message else "")
        raise ProbeFailure(Outcome.CONTENT_FILTERED, why[:500], http_status=200)
    parts = _parts(candidate)
    images = _image_parts(parts)
    if finish not in _FINISHED:
        raise ProbeFailure(Outcome.INVALID_OUTPUT, f"no image: finishReason {finish}"[:200])
    if images:
        return _b64(images[-1]["data"])
    if any(isinstance(p.get("text"), str) and p.get("thought") is not True for p in parts):
        raise ProbeFailure(Outcome.CONTENT_FILTERED, "the model answered in text, no image")
    raise ProbeFailure(Outcome.INVALID_OUTPUT, f"no image part (finishReason {finish or 'unset'})")


def read_answer(ctx: ProbeContext, answer: Any) -> bytes:
    """Record the answer's usage, model version and response id on ``ctx``; its image.

    Usage is recorded before the image is judged, so a filtered answer's billed prompt
    tokens reach the runner through ``ctx.usage`` as well.
    """
    if isinstance(answer, dict):
        rid = _field(answer, "responseId", "response_id")
        ctx.request_id = rid if isinstance(rid, str) else None
        version = _field(answer, "modelVersion", "model_version")
        ctx.served_model = version if isinstance(version, str) else None
    try:
        image = image_from_candidates(answer)
    except ProbeFailure:
        ctx.usage = usage_of(answer, images=0)
        raise
    ctx.usage = usage_of(answer, images=1)
    return image
