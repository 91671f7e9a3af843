"""Lumenfall, an OpenAI-compatible aggregator (``https://api.lumenfall.ai/openai/v1``).

Answers default to ``url`` (the image is downloaded and timed as ``download``). Its error
envelope is UNCONFIRMED: the OpenAI envelope is parsed, raw text is the fallback.
"""

from __future__ import annotations

from typing import Any, ClassVar

from monitor.interfaces import GatewayNames
from probes._openai_images import OpenAIImagesProbe


class LumenfallProbe(OpenAIImagesProbe):
    # LiteLLM and Portkey reach an OpenAI-compatible reseller as ``openai`` with its base URL
    # (docs.litellm.ai/docs/providers/openai_compatible; Portkey ``custom_host``). Lumenfall
    # is not an OpenRouter provider (UNCONFIRMED: the slug list changes), so it is left out.
    gateways: ClassVar[GatewayNames] = GatewayNames(
        litellm="openai", portkey="openai", needs_base_url=True
    )
    fake: ClassVar[str] = "openai"
    default_params: ClassVar[dict[str, Any]] = {"n": 1, "size": "1024x1024"}
