"""Today's models the fakes serve, one dict per fake (consulted by each fake in one line).

Entries here are the live catalog's models at fakes that already exist (fal, Replicate);
the fakes of the new protocols add their own dicts beside these.
"""

from __future__ import annotations

#: fal endpoint id -> listed USD per unit (the fake's platform API answers it per image)
FAL = {
    "google/nano-banana-2.1": "0.04",
    "openai/gpt-image-2": "0.02",
    "fal-ai/flux-2-pro": "0.03",
    "fal-ai/bytedance/seedream/v4.5/text-to-image": "0.04",
    "xai/grok-imagine-image": "0.02",
    "microsoft/mai-image-2.7/text-to-image": "0.0348",
    "fal-ai/qwen-image": "0.02",
}
#: Replicate official models (``owner/name``)
REPLICATE = ("black-forest-labs/flux-2-pro",)
