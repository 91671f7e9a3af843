"""Delivers results to the store from a background task, buffering while the database is away.

Probes hand results over without waiting for SQL. Writes run in one worker thread (SQLite
allows one writer anyway). When the database fails, results stay in a bounded buffer and
are retried with backoff; a result is dropped only when the buffer is full, and that is
counted and logged. Each result carries a unique ``probe_id``, so a retried write never
stores it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from monitor.interfaces import ProbeResult
from monitor.store import Store, StoreError

log = logging.getLogger(__name__)


class ResultWriter:
    def __init__(self, store: Store, *, max_buffer: int = 50_000) -> None:
        self.store = store
        self.buffer: deque[ProbeResult] = deque()
        self.max_buffer = max_buffer
        self.dropped = 0
        self.written = 0
        self.failing = False
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="provmon-store")
        self._task: asyncio.Task[None] | None = None

    def accept(self, result: ProbeResult) -> None:
        if len(self.buffer) >= self.max_buffer:
            self.dropped += 1
            log.error("result buffer full (%d); dropping the oldest result", self.max_buffer)
            self.buffer.popleft()
        self.buffer.append(result)
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="provmon-result-writer")

    async def _loop(self) -> None:
        backoff = 0.5
        loop = asyncio.get_running_loop()
        while True:
            if not self.buffer:
                self._wake.clear()
                await self._wake.wait()
            result = self.buffer[0]
            try:
                await loop.run_in_executor(self._executor, self.store.save_result, result)
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
                # not an outage: this result cannot be stored; do not block the rest on it
                log.exception("dropping a result the store refused")
                self.buffer.popleft()
                self.dropped += 1
                continue
            if self.failing:
                log.warning("database is back; writing %d buffered results", len(self.buffer))
            self.failing = False
            backoff = 0.5
            self.buffer.popleft()
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
