"""``/pages/{gemini,openai}/deprecations...``: the providers' deprecation pages, simulated.

Served in the shape of the real Markdown twins (see monitor/deprecations.py): the Gemini
API's ``deprecations.md.txt`` (one table per generation, ids in backticks) and OpenAI's
``deprecations.md`` (Shutdown date | Affected model | Status | Recommended replacement |
Notice date). The schedule is the one reported in 2026 (shared/reference, section 0).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from monitor.sim._common import Sim

#: (model, released, shutdown or "", replacement)
GEMINI = (
    ("gemini-nano-banana-2.1", "October 7, 2026", "", ""),
    ("gemini-3-pro-image", "May 28, 2026", "", ""),
    ("gemini-3.1-flash-lite-image", "August 4, 2026", "", ""),
    ("gemini-3.1-flash-image", "May 28, 2026", "October 29, 2026", "gemini-nano-banana-2.1"),
    ("gemini-2.5-flash-image", "October 2, 2025", "October 2, 2026", "gemini-nano-banana-2.1"),
    ("imagen-4.0-generate-001", "August 14, 2025", "August 17, 2026", "gemini-nano-banana-2.1"),
    (
        "imagen-4.0-fast-generate-001",
        "August 14, 2025",
        "August 17, 2026",
        "gemini-nano-banana-2.1",
    ),
    ("imagen-4.0-ultra-generate-001", "August 14, 2025", "August 17, 2026", "gemini-3-pro-image"),
)
#: (shutdown, models, replacement, notice)
OPENAI = (
    (
        "Dec 1, 2026",
        "gpt-image-1-mini",
        "gpt-image-2.6-sunburst or gpt-image-2.6-flare",
        "Jun 2, 2026",
    ),
    (
        "Dec 1, 2026",
        "gpt-image-1.5, gpt-image-1.5-2025-12-16",
        "gpt-image-2.6-sunburst",
        "Jun 2, 2026",
    ),
    ("Oct 23, 2026", "gpt-image-1", "gpt-image-2", "Apr 23, 2026"),
    ("May 12, 2026", "dall-e-2, dall-e-3", "gpt-image-1", "Nov 14, 2025"),
)


def gemini_page() -> str:
    rows = "\n".join(
        f"| `{model}` | {released} | {shutdown or 'No shutdown date announced'} | "
        f"{f'`{replacement}`' if replacement else ' '} |"
        for model, released, shutdown, replacement in GEMINI
    )
    return (
        "<br />\n\nThis page lists the known deprecation schedules for models in the Gemini "
        "API (simulated).\n\n## Image models\n\n"
        "| **Model** | **Release date** | **Shutdown date** | **Recommended replacement** |\n"
        f"|---|---|---|---|\n{rows}\n"
    )


def openai_page() -> str:
    rows = "\n".join(
        f"| {shutdown} | {models} | Deprecated | {replacement} | {notice} |"
        for shutdown, models, replacement, notice in OPENAI
    )
    return (
        "# Deprecations\n\n## Upcoming deprecations\n\n"
        "| Shutdown date | Affected model | Status | Recommended replacement | Notice date |\n"
        f"|---|---|---|---|---|\n{rows}\n"
    )


def routes(sim: Sim) -> list[Route]:
    async def gemini(request: Request) -> Response:
        return PlainTextResponse(gemini_page())

    async def openai(request: Request) -> Response:
        return PlainTextResponse(openai_page(), media_type="text/markdown")

    return [
        Route("/pages/gemini/deprecations.md.txt", gemini, methods=["GET"]),
        Route("/pages/openai/deprecations.md", openai, methods=["GET"]),
    ]
