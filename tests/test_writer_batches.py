"""Results go to the store in batches (one transaction, one multi-row INSERT), on SQLite
and on a real PostgreSQL: every field round-trips, a retried batch stores nothing twice,
incidents keep their place in the order, and a batch with one refused item loses only it."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import replace
from decimal import Decimal

from monitor.health import IncidentEvent, State
from monitor.interfaces import Kind, Outcome, Usage
from monitor.store import Store
from monitor.writer import ResultWriter
from tests.test_store import T0, make_result


def test_a_batch_round_trips_every_field(store: Store) -> None:
    usage = Usage(output_image_tokens=1120, output_text_tokens=12, reported_cost_usd=None)
    results = [
        make_result(minutes=1),
        make_result(minutes=2, outcome=Outcome.TIMEOUT, kind=Kind.CONTROL),
        replace(
            make_result(minutes=3),
            image=None,
            phases={},
            usage=usage,
            measured_cost_usd=Decimal("0.033744"),
            served_model="gemini-nano-banana-2.1-001",
            cancelled=True,
        ),
    ]
    store.save_results(results)
    back = store.recent_results(limit=10)
    assert list(reversed(back)) == results


def test_a_retried_batch_stores_nothing_twice(store: Store) -> None:
    first = [make_result(minutes=m) for m in range(3)]
    store.save_results(first)
    store.save_results([*first, make_result(minutes=5)])  # a retry after a lost answer
    assert store.count_results() == 4
    store.save_result(first[0])
    assert store.count_results() == 4


def _event(minute: int) -> IncidentEvent:
    return IncidentEvent(
        offering="lumenfall/imagen-4.0-generate-001",
        vantage="eu-west",
        action="open",
        state=State.DOWN,
        reason="4 failures in a row",
        at=T0 + dt.timedelta(minutes=minute),
    )


def test_the_writer_batches_results_and_keeps_incidents_in_order(store: Store) -> None:
    async def scenario() -> list[int]:
        writer = ResultWriter(store, linger=0.05)
        batches: list[int] = []
        save = writer._save

        def counting(batch: list[object]) -> None:
            batches.append(len(batch))
            save(batch)  # type: ignore[arg-type]

        writer._save = counting  # type: ignore[assignment,method-assign]
        writer.start()
        for m in range(5):
            writer.accept(make_result(minutes=m))
        writer.accept_incidents([_event(5)])
        for m in range(6, 9):
            writer.accept(make_result(minutes=m))
        assert await writer.flush(timeout=30)
        assert writer.written == 8
        await writer.stop()
        return batches

    batches = asyncio.run(scenario())
    # five results in one transaction, the incident alone, then the other three
    assert batches == [5, 1, 3]
    assert store.count_results() == 8
    assert len(store.incidents(open_only=True)) == 1


def test_a_refused_item_in_a_batch_is_the_only_one_dropped(store: Store) -> None:
    async def scenario() -> ResultWriter:
        writer = ResultWriter(store, linger=0.05)
        writer.start()
        good = [make_result(minutes=m) for m in range(4)]
        # not an outage: a value the database refuses (a probe_id longer than its column
        # on PostgreSQL; SQLite stores it, so refuse it in Python for both)
        bad = replace(make_result(minutes=9), probe_id="x" * 37)
        real = store.save_results

        def refusing(results: list[object]) -> None:
            if any(getattr(r, "probe_id", "") == bad.probe_id for r in results):
                raise ValueError("refused")
            real(results)  # type: ignore[arg-type]

        store.save_results = refusing  # type: ignore[assignment,method-assign]
        for r in [*good[:2], bad, *good[2:]]:
            writer.accept(r)
        assert await writer.flush(timeout=30)
        await writer.stop()
        return writer

    writer = asyncio.run(scenario())
    assert writer.dropped == 1
    assert writer.written == 4
    assert store.count_results() == 4
    assert not writer.buffer
