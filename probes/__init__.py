"""Probe modules, one per provider wire protocol.

``PROBES`` is the only list of them: config validation, the CLI and the runner all derive
their choices from it. Adding a protocol is one module plus one line here (see README.md).
"""

from __future__ import annotations

from monitor.interfaces import Probe
from probes.lumenfall import LumenfallProbe
from probes.openai import OpenAIProbe

PROBES: dict[str, type[Probe]] = {
    "lumenfall": LumenfallProbe,
    "openai": OpenAIProbe,
}

__all__ = ["PROBES"]
