"""OpenAI's own Images API (``https://api.openai.com/v1``).

GPT image models always answer ``b64_json`` and reject ``response_format``; ``model`` must
always be sent because the server-side default is a retired model.
"""

from __future__ import annotations

from typing import Any, ClassVar

from probes._openai_images import OpenAIImagesProbe


class OpenAIProbe(OpenAIImagesProbe):
    default_params: ClassVar[dict[str, Any]] = {"n": 1, "size": "1024x1024", "quality": "low"}
