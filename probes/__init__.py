"""Probe modules, one per provider wire protocol.

``PROBES`` is the only list of them: config validation, the CLI and the runner all derive
their choices from it. Adding a protocol is one module plus one line here (see README.md).
"""

from __future__ import annotations

from monitor.interfaces import Probe
from probes.bfl import BflProbe
from probes.fal import FalProbe
from probes.gemini import GeminiProbe
from probes.lumenfall import LumenfallProbe
from probes.openai import OpenAIProbe
from probes.openrouter import OpenRouterProbe
from probes.replicate import ReplicateProbe
from probes.vertex import VertexProbe

PROBES: dict[str, type[Probe]] = {
    "lumenfall": LumenfallProbe,
    "openai": OpenAIProbe,
    "fal": FalProbe,
    "replicate": ReplicateProbe,
    "vertex": VertexProbe,
    "gemini": GeminiProbe,
    "openrouter": OpenRouterProbe,
    "bfl": BflProbe,
}

__all__ = ["PROBES"]
