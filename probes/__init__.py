"""Probe modules, one per provider wire protocol.

``PROBES`` is the only list of them: config validation, the CLI, the runner, the gateway
exports and the simulator's index all read it. Each class declares, besides its wire format,
what gateways call it (``gateways``) and which simulator fake answers as it (``fake``), so
adding a protocol is one module plus one line here (README.md, "Add a provider");
tests/probes/test_contract.py then runs it against its fake.
"""

from __future__ import annotations

from monitor.probe_context import Probe
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
