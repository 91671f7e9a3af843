"""What Lumenfall's llms.txt and HTML model pages share: the page's model, its own offering."""

from __future__ import annotations

import re
from collections.abc import Sequence

from monitor.interfaces import PriceParseError
from monitor.pricing.base import PricingTarget

#: Lumenfall's own provider name in offering ids; its offering is priced from the page's
#: "Starting from" line: that Lumenfall bills the cheapest route's listed price is UNCONFIRMED
OWN_PROVIDER = "lumenfall"
STARTING = re.compile(
    r"Starting (?:from|at)\s*:?\s*(?P<price>(?:US)?\$\s?\d[\d.,]*|\d[\d.,]*\s*(?:¢|cents?))"
    r"(?:\s*(?:/|per)\s*\w+)?",
    re.IGNORECASE,
)


def page_model(kind: str, text: str, url: str, targets: Sequence[PricingTarget]) -> str:
    """The canonical model a per-model page is about: from its URL, else the model the page
    names most often among the targets' models."""
    path = url.split("?", 1)[0].rstrip("/").removesuffix("/llms.txt").removesuffix("/providers")
    for target in targets:
        if path.endswith("/" + target.model):
            return target.model
    counts = {t.model: len(re.findall(rf"/{re.escape(t.model)}(?![\w.-])", text)) for t in targets}
    best = max(counts.items(), key=lambda kv: kv[1], default=("", 0))
    if best[1] == 0:
        wanted = ", ".join(sorted({t.model for t in targets}))
        raise PriceParseError(f"{kind}: the page names none of the models: {wanted}")
    return best[0]
