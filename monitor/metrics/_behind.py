"""The scrape-time gauges' text, read at the scrape while that is cheap, else behind it.

The result-driven families are current at every scrape (their texts change as results
land). The scrape-time gauges come from the engines' sources (prices, budget, lifecycle,
account problems, states, routes), and at 1,000 offerings reading them is ~100 ms of
Python, competing with the probes for the GIL (issue 18: ``/metrics`` p90 65 ms, max
223 ms under the soak's load). So:

- while a read takes under ``inline_s`` of CPU (small deployments, tests), every scrape
  reads them itself: exactly current;
- above that, a scrape sends the text of the last read and asks a worker thread for a new
  one: the gauges are then at most one scrape interval old (or ``max_age_s``, past which
  the scrape reads them itself again), while counters and histograms stay current.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

#: one worker for every Metrics of the process: reads are rare and short
_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="provmon-metrics")


class ReadBehind:
    """The last text of ``render`` and when it was read (see the module docstring)."""

    def __init__(
        self, render: Callable[[list[bytes]], None], inline_s: float, max_age_s: float
    ) -> None:
        self._render = render
        self.inline_s = inline_s
        self.max_age_s = max_age_s
        self._lock = threading.Lock()  # one read at a time: the reader's caches are shared
        self._text: list[bytes] | None = None
        self._read_at = 0.0
        #: the CPU the last read took (seconds), and reads done by the worker
        self.took = 0.0
        self.behind_reads = 0
        self._pending = False

    def text(self, *, current: bool = False) -> list[bytes]:
        """The gauges' text: read now when ``current``, cheap, absent or too old; else the
        last read's, and a new read asked of the worker."""
        text = self._text
        cheap = self.took < self.inline_s
        if current or cheap or text is None or time.monotonic() - self._read_at > self.max_age_s:
            return self.read(group=False)  # on the scrape's own time: no regrouping
        if not self._pending:
            self._pending = True
            _WORKER.submit(self._behind)
        return text

    def read(self, *, group: bool = True) -> list[bytes]:
        with self._lock:
            began, cpu = time.monotonic(), time.thread_time()
            out: list[bytes] = []
            self._render(out)
            grouped = _grouped(out) if group else out
            # this thread's CPU, not the wall clock: waiting for the GIL while probes run
            # must not make a small deployment's reads look slow (and its gauges late)
            self.took = time.thread_time() - cpu
            self._text, self._read_at = grouped, began
            return grouped

    def forget(self) -> None:
        with self._lock:
            self._text, self.took = None, 0.0

    def _behind(self) -> None:
        try:
            self.read()
            self.behind_reads += 1
        finally:
            self._pending = False


def _grouped(lines: list[bytes], size: int = 8192) -> list[bytes]:
    """``lines`` joined into texts of about ``size`` bytes, in order (a scrape then copies
    and sends a few hundred texts, not one per gauge row)."""
    out: list[bytes] = []
    group: list[bytes] = []
    length = 0
    for line in lines:
        group.append(line)
        length += len(line)
        if length >= size:
            out.append(b"".join(group))
            group, length = [], 0
    if group:
        out.append(b"".join(group))
    return out
