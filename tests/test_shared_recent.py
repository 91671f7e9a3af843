"""The windows routing reads in a worker thread while results land on the event loop
(monitor/shared_recent.py): a result never waits for an evaluation, and none is lost."""

from __future__ import annotations

import threading
import time

from monitor.interfaces import Outcome
from monitor.shared_recent import SharedRecent
from tests.test_windows import NOW, OFFERING, result, window_stats


def test_a_result_landing_during_an_evaluation_is_queued_then_counted() -> None:
    recent = SharedRecent()
    recent.accept(result(1))
    inside, release = threading.Event(), threading.Event()
    seen: list[int] = []

    def evaluation() -> None:
        with recent.held() as windows:
            inside.set()
            release.wait(10)
            seen.append(windows.book.stats(NOW)[OFFERING]["5m"].samples)

    worker = threading.Thread(target=evaluation)
    worker.start()
    assert inside.wait(10)
    began = time.monotonic()
    recent.accept(result(2, Outcome.SERVER_ERROR))  # on "the loop": must not wait
    assert time.monotonic() - began < 1.0  # the evaluation holds it for up to 10 s
    assert recent.queued == 1
    release.set()
    worker.join(10)
    assert seen == [1]  # the evaluation saw the windows as they were when it began
    recent.accept(result(3))  # the queued one is applied first, in order
    assert recent.queued == 0
    expected = window_stats([result(1), result(2, Outcome.SERVER_ERROR), result(3)], NOW)
    with recent.held() as windows:
        assert windows.book.stats(NOW) == expected
        assert len(windows.results) == 3


def test_an_evaluation_applies_what_was_queued_before_it_reads() -> None:
    recent = SharedRecent()
    with recent.held():
        recent.accept(result(1))  # queued: the windows are held
        assert recent.queued == 1
    with recent.held() as windows:
        assert recent.queued == 0
        assert windows.book.stats(NOW)[OFFERING]["5m"].samples == 1
