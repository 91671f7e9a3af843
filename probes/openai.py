"""OpenAI's own Images API (``https://api.openai.com/v1``).

GPT image models always answer ``b64_json`` and reject ``response_format``; ``model`` must
always be sent because the server-side default is a retired model.
"""

from __future__ import annotations

from typing import Any, ClassVar

from monitor.interfaces import GatewayNames
from probes._openai_images import OpenAIImagesProbe


class OpenAIProbe(OpenAIImagesProbe):
    # exported as an OpenAI-compatible endpoint (its base URL kept), as before; an OpenRouter
    # slug for OpenAI's own image API is UNCONFIRMED, so it is left out
    gateways: ClassVar[GatewayNames] = GatewayNames(
        litellm="openai", portkey="openai", needs_base_url=True
    )
    fake: ClassVar[str] = "openai"
    default_params: ClassVar[dict[str, Any]] = {"n": 1, "size": "1024x1024", "quality": "low"}
