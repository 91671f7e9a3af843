"""Delivers results and incident events to the store from a background task, buffering
while the database is away.

Probes hand results over without waiting for SQL, and the health engine hands over its
incident events the same way: both go through one FIFO buffer, so an incident opened while
the database is away is stored once it returns, after the results that led to it. Writes
run in one worker thread (SQLite allows one writer anyway). When the database fails, items
stay in a bounded buffer and are retried with backoff; an item is dropped only when the
buffer is full or the store refuses it for another reason than an outage, and each drop is
counted (``dropped``, and ``on_drop`` for ``provmon_results_dropped_total``) and logged.
Each result carries a unique ``probe_id``, so a retried write never stores it twice; an
incident batch is one transaction, so a failed attempt wrote none of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from monitor.health import IncidentEvent
from monitor.interfaces import ProbeResult
from monitor.store import Store, StoreError

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class IncidentBatch:
    """The incident events of one state change, stored together and in order."""

    events: tuple[IncidentEvent, ...]


Item = ProbeResult | IncidentBatch


class ResultWriter:
    def __init__(
        self,
        store: Store,
        *,
        max_buffer: int = 50_000,
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        self.store = store
        self.buffer: deque[Item] = deque()
        self.max_buffer = max_buffer
        self.on_drop = on_drop
        #: items given up on (buffer full, or refused by the store): never reset
        self.dropped = 0
        #: results stored (incident batches are not counted here)
        self.written = 0
        self.failing = False
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="provmon-store")
        self._task: asyncio.Task[None] | None = None

    def accept(self, result: ProbeResult) -> None:
        """A runner sink: queue one result for the store."""
        self._put(result)

    def accept_incidents(self, events: Sequence[IncidentEvent]) -> None:
        """Queue the incident events of one state change for the store."""
        if events:
            self._put(IncidentBatch(events=tuple(events)))

    def _put(self, item: Item) -> None:
        if len(self.buffer) >= self.max_buffer:
            log.error("store buffer full (%d); dropping the oldest item", self.max_buffer)
            self.buffer.popleft()
            self._dropped()
        self.buffer.append(item)
        self._wake.set()

    def _dropped(self) -> None:
        self.dropped += 1
        if self.on_drop is not None:
            self.on_drop(1)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="provmon-result-writer")

    def _save(self, item: Item) -> None:
        if isinstance(item, IncidentBatch):
            self.store.save_incident_events(item.events)
        else:
            self.store.save_result(item)

    async def _loop(self) -> None:
        backoff = 0.5
        loop = asyncio.get_running_loop()
        while True:
            if not self.buffer:
                self._wake.clear()
                await self._wake.wait()
            item = self.buffer[0]
            try:
                await loop.run_in_executor(self._executor, self._save, item)
            except StoreError as exc:
                if not self.failing:
                    log.error(
                        "cannot store results, buffering (%d waiting): %s",
                        len(self.buffer),
                        _short(exc),
                    )
                self.failing = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            except Exception:
                # not an outage: this item cannot be stored; do not block the rest on it
                log.exception("dropping an item the store refused")
                if self.buffer and self.buffer[0] is item:
                    self.buffer.popleft()
                self._dropped()
                continue
            if self.failing:
                log.warning("database is back; writing %d buffered items", len(self.buffer))
            self.failing = False
            backoff = 0.5
            # the buffer may have dropped its oldest (this one) while the write ran
            if self.buffer and self.buffer[0] is item:
                self.buffer.popleft()
            if not isinstance(item, IncidentBatch):
                self.written += 1

    async def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the buffer is empty; False when it could not be emptied in time."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.buffer and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        return not self.buffer

    async def stop(self, timeout: float = 10.0) -> None:
        flushed = await self.flush(timeout)
        if not flushed:
            log.error("%d results could not be stored before shutdown", len(self.buffer))
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=True)


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
