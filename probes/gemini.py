"""The Gemini API (Google AI Studio, ``https://generativelanguage.googleapis.com``).

Imagen: ``POST {base}/v1beta/models/{m}:predict``; Gemini image models
(``gemini-nano-banana-2.1``, ``gemini-3-pro-image`` ...): ``POST
{base}/v1beta/models/{m}:generateContent`` (bodies and answers: probes/_content.py). The key
goes in ``x-goog-api-key``. The free control call ``GET {base}/v1beta/models/{m}`` answers
404 for a retired model. A bad key is HTTP 400 ``API_KEY_INVALID``, not 401 (see _google).
The Gemini API takes a subset of Vertex's Imagen parameters and rejects the rest
(negativePrompt, seed, enhancePrompt, addWatermark, storageUri): offerings must not send them.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from monitor.probe_context import ProbeContext
from probes._google import GoogleImagesProbe, Method


class GeminiOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Imagen was only documented on v1beta; google-genai 3.x defaults to v1 for Gemini
    api_version: Literal["v1beta", "v1"] = "v1beta"
    #: auto: ``generateContent`` for ``gemini-*`` models, ``predict`` for the rest
    method: Method = "auto"


class GeminiProbe(GoogleImagesProbe):
    Options: ClassVar[type[BaseModel]] = GeminiOptions

    async def auth_headers(self, ctx: ProbeContext) -> dict[str, str]:
        # the header, never ``?key=``: a key in a URL ends up in proxy and access logs
        return {"x-goog-api-key": ctx.secret} if ctx.secret else {}

    def model_url(self, ctx: ProbeContext) -> str:
        assert isinstance(ctx.options, GeminiOptions)
        return f"{ctx.base_url}/{ctx.options.api_version}/models/{ctx.provider_model}"

    def metadata_url(self, ctx: ProbeContext) -> str:
        return self.model_url(ctx)
