"""Routing's evaluation on the event loop, a few milliseconds at a time (issue 18).

At 10,000 offerings one evaluation is most of a second of Python. On the loop in one
piece it held every probe back that long; in a worker thread (session 5) it held them
back longer: a CPU-bound thread and the event loop form a convoy on the GIL, where each
time the loop waits for I/O it gives the GIL up and waits up to the switch interval
(5 ms) to get it back, so the loop ran ~150 iterations a second while the thread ran
(measured: a 1 ms sleep on the loop overslept 5.2 ms at the median). Here the evaluation
runs on the loop, one model at a time, and after each ``slice_s`` of work lets the loop
run whatever is ready: a probe waits at most about one slice.

Results landing between slices change the windows of models not yet decided; each model's
views are read in one step, so each route is decided on a consistent view of its
offerings, as :func:`monitor.pipeline.evaluate_routes` decides it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable, Sequence
from decimal import Decimal

from monitor.health import State
from monitor.pipeline import RecentResults
from monitor.routing import OfferingView, RoutingEngine, Snapshot, build_snapshot

#: Python run on the loop before it lets the probes' callbacks in
SLICE_S = 0.005


def by_model(offerings: Sequence[str]) -> list[tuple[str, list[str]]]:
    """``offerings`` grouped by model (as routing groups them), models sorted, each
    model's offerings in the given order."""
    groups: dict[str, list[str]] = {}
    for offering in offerings:
        groups.setdefault(offering.partition("/")[2], []).append(offering)
    return sorted(groups.items())


async def evaluate_in_slices(
    routing: RoutingEngine,
    now: dt.datetime,
    offerings: Sequence[str],
    *,
    price_of: Callable[[str], Decimal | None],
    state_of: Callable[[str], State],
    recent: RecentResults,
    groups: Sequence[tuple[str, list[str]]] | None = None,
    slice_s: float = SLICE_S,
) -> None:
    """One evaluation of every model's routes, as :func:`monitor.pipeline.evaluate_routes`
    makes it, yielding to the loop after each ``slice_s`` of work. ``groups``:
    :func:`by_model` of ``offerings``, when the caller keeps it."""
    recent.trim(now)
    views: dict[str, OfferingView] = {}
    began = time.perf_counter()
    for model, members in groups if groups is not None else by_model(offerings):
        stats = recent.book.stats(now, offerings=members, only=True)
        part = build_snapshot(
            now, members, current_price=price_of, state_of=state_of, stats=stats
        ).offerings
        routing.decide_model(model, part, now)
        views.update((v.offering, v) for v in part)
        if time.perf_counter() - began >= slice_s:
            await asyncio.sleep(0)
            began = time.perf_counter()
    routing.finish(Snapshot(at=now, offerings=tuple(views[o] for o in offerings)))
