"""Recent results that routing's evaluation may read in a worker thread (issue 18).

At 10,000 offerings one routing evaluation (windows, snapshot, three policies per model)
is 1.2-1.6 s of Python. On the event loop it held every probe back that long, every
``routing.evaluate_seconds``. The service now runs it in a worker thread; the windows it
reads (:class:`~monitor.pipeline.RecentResults`) are written on the loop as results land,
so the two take turns through a lock the loop never waits on: a result landing while an
evaluation holds it is queued and applied, in order, before the next one is.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from monitor.interfaces import ProbeResult
from monitor.pipeline import RecentResults


class SharedRecent(RecentResults):
    """:class:`RecentResults` whose :meth:`held` gives a thread sole use of it."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._queued: deque[ProbeResult] = deque()

    def accept(self, result: ProbeResult) -> None:
        """Apply ``result`` now, or queue it while an evaluation holds the windows (never
        waits: this runs on the event loop)."""
        if not self._lock.acquire(blocking=False):
            self._queued.append(result)
            return
        try:
            self._apply_queued()
            super().accept(result)
        finally:
            self._lock.release()

    @contextmanager
    def held(self) -> Iterator[RecentResults]:
        """Sole use of the windows, every queued result applied first (a worker thread:
        waits for a result being applied on the loop, a few microseconds)."""
        with self._lock:
            self._apply_queued()
            yield self

    @property
    def queued(self) -> int:
        return len(self._queued)

    def _apply_queued(self) -> None:
        while self._queued:
            super().accept(self._queued.popleft())
