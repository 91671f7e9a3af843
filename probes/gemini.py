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

from monitor.interfaces import GatewayNames, ListedModel
from monitor.probe_context import ProbeContext
from probes._google import GoogleImagesProbe, Method
from probes._listings import google_models


class GeminiOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Imagen was only documented on v1beta; google-genai 3.x defaults to v1 for Gemini
    api_version: Literal["v1beta", "v1"] = "v1beta"
    #: auto: ``generateContent`` for ``gemini-*`` models, ``predict`` for the rest
    method: Method = "auto"


class GeminiProbe(GoogleImagesProbe):
    Options: ClassVar[type[BaseModel]] = GeminiOptions
    # LiteLLM ``gemini/`` (litellm.get_llm_provider); OpenRouter's Google AI Studio slug
    # (openrouter.ai/docs/features/provider-routing); Portkey ``google`` (Portkey-AI/gateway
    # src/globals.ts VALID_PROVIDERS)
    gateways: ClassVar[GatewayNames] = GatewayNames(
        litellm="gemini", openrouter="google-ai-studio", portkey="google"
    )
    fake: ClassVar[str] = "gemini"

    async def auth_headers(self, ctx: ProbeContext) -> dict[str, str]:
        # the header, never ``?key=``: a key in a URL ends up in proxy and access logs
        return {"x-goog-api-key": ctx.secret} if ctx.secret else {}

    def model_url(self, ctx: ProbeContext) -> str:
        assert isinstance(ctx.options, GeminiOptions)
        return f"{ctx.base_url}/{ctx.options.api_version}/models/{ctx.provider_model}"

    def metadata_url(self, ctx: ProbeContext) -> str:
        return self.model_url(ctx)

    async def list_models(self, ctx: ProbeContext) -> list[ListedModel]:
        """``models.list``: every model the key may call, with its generation methods."""
        assert isinstance(ctx.options, GeminiOptions)
        url = f"{ctx.base_url}/{ctx.options.api_version}/models"
        return await google_models(ctx, url, await self.auth_headers(ctx), "models")
