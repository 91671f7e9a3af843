"""``:generateContent`` answers of the fake Gemini API and Vertex AI (called from google.py).

The answer follows Google's GenerateContentResponse (https://ai.google.dev/api/generate-content;
field names as google-genai's ``types.py`` reads them): ``candidates[0].content.parts`` with
``inlineData {mimeType, data}``, ``finishReason``, ``usageMetadata`` (``promptTokenCount``,
``candidatesTokenCount``, ``thoughtsTokenCount``, ``totalTokenCount``, per-modality
``promptTokensDetails`` / ``candidatesTokensDetails``), ``modelVersion``, ``responseId``;
Vertex adds ``createTime`` and ``usageMetadata.trafficType``. Token counts per image come
from monitor/sim/models.py.

A behaviour's ``variant`` picks an answer a real model gives now and then:
``finish:<REASON>`` (a candidate stopped for REASON, no image: NO_IMAGE, IMAGE_OTHER,
MALFORMED_RESPONSE, SAFETY ...), ``block:<REASON>`` (``promptFeedback.blockReason``, no
candidates), ``refusal`` (STOP with text only) and ``thoughts`` (thought parts, a draft image
among them, before the final image).
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from typing import Any

from monitor.sim._common import image_bytes
from monitor.sim.models import GOOGLE

#: output sizes per aspect ratio at 1K for Gemini image models (Google's image-generation
#: guide's table for gemini-2.5-flash-image; 2K and 4K double and quadruple both sides)
ASPECTS = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
}
_SCALE = {"512": 0.5, "1K": 1.0, "2K": 2.0, "4K": 4.0}
_MODALITIES = {"TEXT", "IMAGE"}


class Bad(Exception):
    """A body the real API answers with 400 INVALID_ARGUMENT."""


def check(model: str, body: Any, *, needs_role: bool) -> dict[str, Any]:
    """The request's meaning for :func:`answer`, or :class:`Bad` as Google would reject it."""
    facts = GOOGLE[model]
    if not isinstance(body, dict) or not isinstance(body.get("contents"), list):
        raise Bad("contents is required.")
    texts = []
    for content in body["contents"]:
        if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
            raise Bad("Each content needs a parts list.")
        if needs_role and content.get("role") not in ("user", "model"):
            raise Bad("Please use a valid role: user, model.")
        texts += [p["text"] for p in content["parts"] if isinstance(p, dict) and "text" in p]
    if not texts or not all(isinstance(t, str) for t in texts):
        raise Bad("contents must contain a text part.")
    if not any(t.strip() for t in texts):
        # the wording Vertex AI uses for a blank prompt (an INVALID_ARGUMENT 400)
        raise Bad(
            "Unable to submit request because it has an empty text parameter. "
            "Add a value to the parameter and try again."
        )
    config = body.get("generationConfig") or {}
    if not isinstance(config, dict):
        raise Bad("generationConfig must be an object.")
    modalities = config.get("responseModalities", ["TEXT", "IMAGE"])
    if not isinstance(modalities, list) or not {str(m).upper() for m in modalities} <= _MODALITIES:
        raise Bad("responseModalities may hold TEXT and IMAGE only.")
    image = config.get("imageConfig") or {}
    aspect, size = image.get("aspectRatio", "1:1"), image.get("imageSize", "1K")
    if aspect not in ASPECTS:
        raise Bad(f"Unsupported aspect ratio {aspect!r}.")
    if size not in facts.image_tokens:
        raise Bad(f"Unsupported image size {size!r} for {model}.")
    thinking = config.get("thinkingConfig") or {}
    level = thinking.get("thinkingLevel") if isinstance(thinking, dict) else None
    if level is not None and str(level).upper() not in facts.thinking_levels:
        raise Bad(f"Thinking level {level!r} is not supported for this model.")
    width, height = ASPECTS[aspect]
    scale = _SCALE[size]
    return {
        "size": (int(width * scale), int(height * scale)),
        "image_size": size,
        "modalities": {str(m).upper() for m in modalities},
        "level": str(level).upper() if level is not None else "",
        "prompt_tokens": max(1, sum(len(t) for t in texts) // 4),
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _usage(
    model: str, args: dict[str, Any], *, image: bool, text: int = 0, vertex: bool
) -> dict[str, Any]:
    facts = GOOGLE[model]
    prompt = args["prompt_tokens"]
    usage: dict[str, Any] = {
        "promptTokenCount": prompt,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }
    output = []
    if image:
        output.append({"modality": "IMAGE", "tokenCount": facts.image_tokens[args["image_size"]]})
    if text:
        output.append({"modality": "TEXT", "tokenCount": text})
    total = prompt
    if output:
        usage["candidatesTokenCount"] = sum(o["tokenCount"] for o in output)
        usage["candidatesTokensDetails"] = output
        total += usage["candidatesTokenCount"]
    thoughts = facts.thoughts_tokens.get(args["level"], 0)
    if thoughts and (image or text):
        usage["thoughtsTokenCount"] = thoughts
        total += thoughts
    usage["totalTokenCount"] = total
    if vertex:
        usage["trafficType"] = "ON_DEMAND"
    return usage


def answer(
    model: str, args: dict[str, Any], *, filtered: bool, variant: str | None, vertex: bool
) -> dict[str, Any]:
    """A 200 answer to a checked request: an image, or the variant's failure."""
    out: dict[str, Any] = {}
    kind, _, reason = (variant or "").partition(":")
    parts: list[dict[str, Any]] = []
    finish = "STOP"
    image, text = False, 0
    if filtered:
        kind, reason = "finish", "IMAGE_SAFETY"
    if kind == "block":
        out["promptFeedback"] = {"blockReason": reason or "SAFETY"}
    elif kind == "finish":
        finish = reason or "NO_IMAGE"
    elif kind == "refusal":
        words = "I can't create that image. Can I help you with a different picture?"
        parts.append({"text": words})
        text = len(words) // 4
    else:
        width, height = args["size"]
        if kind == "thoughts":  # a draft at another size, so taking it fails the size check
            draft, mime = image_bytes(width // 2, height // 2, "png")
            plan = "Composing the scene: cube centred, soft light."
            parts.append({"text": plan, "thought": True})
            parts.append({"inlineData": {"mimeType": mime, "data": _b64(draft)}, "thought": True})
        if "TEXT" in args["modalities"]:
            parts.append({"text": "Here is the picture you asked for."})
            text = 8
        if "IMAGE" in args["modalities"]:
            raw, mime = image_bytes(width, height, "png")
            parts.append({"inlineData": {"mimeType": mime, "data": _b64(raw)}})
            image = True
    if kind != "block":
        candidate: dict[str, Any] = {"content": {"role": "model"}, "finishReason": finish}
        if parts:
            candidate["content"]["parts"] = parts
        candidate["index"] = 0
        out["candidates"] = [candidate]
    out["usageMetadata"] = _usage(model, args, image=image, text=text, vertex=vertex)
    out["modelVersion"] = model
    if vertex:
        out["createTime"] = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
    out["responseId"] = secrets.token_urlsafe(16)
    return out
