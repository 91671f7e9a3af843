"""Lumenfall, an OpenAI-compatible aggregator (``https://api.lumenfall.ai/openai/v1``).

Answers default to ``url`` (the image is downloaded and timed as ``download``). Its error
envelope is UNCONFIRMED: the OpenAI envelope is parsed, raw text is the fallback.
"""

from __future__ import annotations

from typing import Any, ClassVar

from probes._openai_images import OpenAIImagesProbe


class LumenfallProbe(OpenAIImagesProbe):
    default_params: ClassVar[dict[str, Any]] = {"n": 1, "size": "1024x1024"}
