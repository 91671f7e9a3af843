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

Results are written in batches: the run of results at the head of the buffer (up to
``max_batch``), gathered for ``linger`` seconds after the first one arrives, goes to the
store in one transaction and one multi-row ``INSERT`` (``Store.save_results``). One
thread hand-off and one commit per batch instead of per result is most of what the
agent's CPU per probe was (``bench/agent_cpu.py``). An item leaves the buffer only once
its batch is committed; a batch the store refuses for another reason than an outage is
retried one item at a time, so only the refused item is dropped.
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

#: results per transaction at most
MAX_BATCH = 500
#: how long the writer gathers results after the first one before it writes them
LINGER_S = 0.5


class ResultWriter:
    def __init__(
        self,
        store: Store,
        *,
        max_buffer: int = 50_000,
        on_drop: Callable[[int], None] | None = None,
        max_batch: int = MAX_BATCH,
        linger: float = LINGER_S,
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
        self.max_batch = max_batch
        self.linger = linger
        #: after a refused batch: write this many items one at a time, to find the bad one
        self._careful = 0
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

    def _batch(self) -> list[Item]:
        """The items of the next write: an incident batch alone, or the run of results at
        the head of the buffer (one item at a time after a refused batch)."""
        head = self.buffer[0]
        if isinstance(head, IncidentBatch) or self._careful:
            return [head]
        batch: list[Item] = []
        for item in self.buffer:
            if isinstance(item, IncidentBatch) or len(batch) >= self.max_batch:
                break
            batch.append(item)
        return batch

    def _save(self, batch: list[Item]) -> None:
        head = batch[0]
        if isinstance(head, IncidentBatch):
            self.store.save_incident_events(head.events)
        else:
            self.store.save_results([i for i in batch if not isinstance(i, IncidentBatch)])

    async def _loop(self) -> None:
        backoff = 0.5
        loop = asyncio.get_running_loop()
        while True:
            if not self.buffer:
                self._wake.clear()
                await self._wake.wait()
                if self.linger > 0 and len(self.buffer) < self.max_batch:
                    await asyncio.sleep(self.linger)  # gather a batch
            batch = self._batch()
            try:
                await loop.run_in_executor(self._executor, self._save, batch)
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
                if len(batch) > 1:
                    # one of them is refused: find it by writing them one at a time
                    self._careful = len(batch)
                    continue
                # not an outage: this item cannot be stored; do not block the rest on it
                log.exception("dropping an item the store refused")
                self._settled(batch)
                self._dropped()
                continue
            if self.failing:
                log.warning("database is back; writing %d buffered items", len(self.buffer))
            self.failing = False
            backoff = 0.5
            self._settled(batch)
            self.written += sum(not isinstance(i, IncidentBatch) for i in batch)

    def _settled(self, batch: list[Item]) -> None:
        """Take a written (or given up) batch off the buffer's head; the buffer may have
        dropped its oldest items (these) while the write ran."""
        if self._careful:
            self._careful -= 1
        for item in batch:
            if self.buffer and self.buffer[0] is item:
                self.buffer.popleft()

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
