"""``python -m bench.history``: the 30-day routing query over ~1M probe rows, on SQLite and
PostgreSQL (issue 18), and routing's windows kept incrementally against a book rebuilt from
the day's rows at each evaluation.

The history: ``--rows`` probe results spread evenly over ``--days`` days across
``--offerings`` offerings (one in ten a paid ``generate``), loaded into a fresh database,
then laid out as the service keeps it: ``Store.prune`` with the default retention rolls up
every complete hour and deletes raw results older than ``retention.raw_days``. So the
query reads hourly rollups for the complete hours and raw results for the current one.

The query is what routing and the status page need over 30 days, per offering and kind:
success ratio (``monitor.outcomes.AVAILABILITY``), p95 of successful latencies (within
``monitor.history.QUANTILE_ERROR`` of the exact one) and effective cost (listed price ÷
success ratio). Timed ``--queries`` times after one warm-up; p95 ≤ 200 ms on each database.
The PostgreSQL server is ``PROVMON_BENCH_DATABASE_URL``, else the test cluster
(``scripts/pg-test.sh``, which runs with ``fsync=off``: reads are what is timed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench._common import (
    fresh_schema,
    machine,
    postgres_server_url,
    print_table,
    summary_ms,
    write_result,
)
from monitor.config_sections import RetentionConfig
from monitor.history import QUANTILE_ERROR, Tally
from monitor.interfaces import Kind, Outcome, Phase, ProbeResult
from monitor.outcomes import quantile
from monitor.store import ProbeRow, Store
from monitor.windows import WindowBook

NAME = "history"
TARGET_MS = 200.0
ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 12, 1, 12, 20, tzinfo=dt.UTC)
PRICE = Decimal("0.04")
#: outcomes drawn for the synthetic history (most probes succeed)
OUTCOMES = [Outcome.OK] * 16 + [
    Outcome.SERVER_ERROR,
    Outcome.TIMEOUT,
    Outcome.RATE_LIMITED,
    Outcome.CONTENT_FILTERED,
]


@dataclass(frozen=True, kw_only=True)
class History:
    """The synthetic history's shape; :meth:`batches` makes the same rows every time (so a
    million rows are never all in memory at once)."""

    rows: int
    offerings: int
    days: float
    seed: int = 18

    def batches(self, size: int = 20_000) -> Iterator[list[dict[str, Any]]]:
        rng = random.Random(self.seed)
        span, n = self.days * 86_400, self.rows
        for start in range(0, n, size):
            yield [self._row(rng, i, span) for i in range(start, min(n, start + size))]

    def _row(self, rng: random.Random, i: int, span: float) -> dict[str, Any]:
        offering = f"p{i % self.offerings}/model-{i % self.offerings}"
        outcome = rng.choice(OUTCOMES)
        kind = Kind.GENERATE if rng.random() < 0.1 else Kind.CONTROL
        total = rng.lognormvariate(2.0 if kind == Kind.GENERATE else -1.5, 0.4)
        return {
            "probe_id": uuid.UUID(int=rng.getrandbits(128)).hex,
            "offering": offering,
            "provider": offering.partition("/")[0],
            "model": offering.partition("/")[2],
            "vantage": "eu-west",
            "kind": str(kind),
            "outcome": str(outcome),
            "started_at": NOW - dt.timedelta(seconds=span * (i + 0.5) / self.rows),
            "total_s": total if outcome == Outcome.OK else None,
            "cost_micro_usd": 40_000 if kind == Kind.GENERATE else 0,
            "cancelled": False,
        }

    def expected(self) -> tuple[dict[str, Tally], dict[str, float | None]]:
        """Per "offering kind": the tally of every row, and the exact p95 latency."""
        tallies: dict[str, Tally] = {}
        latencies: dict[str, list[float]] = {}
        for batch in self.batches():
            for r in batch:
                key = f"{r['offering']} {r['kind']}"
                tallies.setdefault(key, Tally()).add(
                    Outcome(r["outcome"]), r["total_s"], r["cost_micro_usd"], r["cancelled"]
                )
                if r["total_s"] is not None:
                    latencies.setdefault(key, []).append(r["total_s"])
        return tallies, {k: quantile(sorted(v), 0.95) for k, v in latencies.items()}


def _load(store: Store, history: History) -> float:
    began = time.monotonic()
    table = ProbeRow.__table__  # type: ignore[attr-defined]
    with store.engine.begin() as conn:
        for batch in history.batches():
            conn.execute(sa.insert(table), batch)
    return time.monotonic() - began


def routing_query(store: Store) -> dict[str, dict[str, Any]]:
    """What routing and the status page read over 30 days, per offering and kind."""
    out: dict[str, dict[str, Any]] = {}
    for (offering, kind), tally in store.history(NOW - dt.timedelta(days=30), NOW).items():
        out[f"{offering} {kind}"] = {
            "results": tally.results,
            "success_ratio": tally.success_ratio,
            "p95_s": tally.quantile(0.95),
            "effective_cost_usd": tally.effective_cost(PRICE),
        }
    return out


def run_database(url: str, history: History, queries: int, raw_days: float) -> Any:
    store = Store(url)
    store.upgrade()
    load_s = _load(store, history)
    print(f"[{NAME}]   loaded in {load_s:.1f}s, pruning", flush=True)
    began = time.monotonic()
    report = store.prune(NOW, raw_days=raw_days)
    prune_s = time.monotonic() - began
    raw_left = store.count_results()
    routing_query(store)  # warm-up
    times = []
    for _ in range(queries):
        began = time.monotonic()
        answer = routing_query(store)
        times.append(time.monotonic() - began)
    with store.engine.connect() as conn:
        rollup_rows = conn.execute(sa.text("SELECT count(*) FROM probe_rollups")).scalar()
    store.dispose()
    want, exact_p95 = history.expected()
    lost = sum(abs(want[k].results - answer.get(k, {}).get("results", 0)) for k in want)
    worst = max(
        abs(answer[k]["p95_s"] - exact) / exact
        for k, exact in exact_p95.items()
        if exact is not None
    )
    return {
        "load_seconds": round(load_s, 1),
        "prune_seconds": round(prune_s, 1),
        "hours_rolled": report.hours_rolled,
        "raw_rows_deleted": report.rows_deleted,
        "raw_rows_kept": raw_left,
        "rollup_rows": rollup_rows,
        "query_ms": {**summary_ms(times), "p95": round((quantile(times, 0.95) or 0) * 1000, 3)},
        "results_counted": sum(v["results"] for v in answer.values()),
        "results_lost": lost,
        "worst_p95_relative_error": round(worst, 4),
    }


def postgres_url() -> str:
    """A fresh schema on the benchmark's PostgreSQL server (psycopg driver)."""
    url = postgres_server_url()
    if url is None:
        raise SystemExit(f"[{NAME}] needs PostgreSQL: install it or set PROVMON_BENCH_DATABASE_URL")
    return fresh_schema(url, "bench").replace("postgresql://", "postgresql+psycopg://", 1)


def drop_schema(url: str) -> None:
    schema = url.rsplit("%3D", 1)[1]
    engine = sa.create_engine(url.split("?options=")[0].split("&options=")[0])
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


def windows_case(offerings: int = 1000, per_offering: int = 290, evaluations: int = 20) -> Any:
    """Routing's windows at 1,000 offerings and a day of generate results (~290k): one
    evaluation from a book rebuilt from the day's rows (what a caller holding only rows
    does, ``WindowBook.of``) against the book kept incrementally."""
    rng = random.Random(7)
    results = []
    for i in range(offerings * per_offering):
        results.append(
            ProbeResult(
                probe_id=str(i),
                offering=f"p{i % offerings}/m",
                provider="p",
                model="m",
                vantage="eu-west",
                kind=Kind.GENERATE,
                outcome=rng.choice(OUTCOMES),
                started_at=NOW
                - dt.timedelta(seconds=86_400 * (1 - i / (offerings * per_offering))),
                phases={Phase.TOTAL: rng.uniform(2, 30)},
            )
        )
    book = WindowBook.of(results)
    rebuild, incremental = [], []
    for step in range(evaluations):
        now = NOW + dt.timedelta(seconds=30 * step)
        began = time.monotonic()
        expected = WindowBook.of(results).stats(now)
        rebuild.append(time.monotonic() - began)
        began = time.monotonic()
        got = book.stats(now)
        incremental.append(time.monotonic() - began)
        assert got == expected, "the kept book's windows differ from a rebuilt one's"
    return {
        "offerings": offerings,
        "results_in_day": len(results),
        "evaluations": evaluations,
        "rebuild_ms": summary_ms(rebuild),
        "incremental_ms": summary_ms(incremental),
        "equal_at_every_evaluation": True,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.history", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--offerings", type=int, default=40)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--raw-days", type=float, default=RetentionConfig().raw_days)
    parser.add_argument("--skip-windows", action="store_true")
    args = parser.parse_args(argv)
    print(f"[{NAME}] {args.rows} rows, {args.offerings} offerings, {args.days:g} days", flush=True)
    rows = History(rows=args.rows, offerings=args.offerings, days=args.days)
    per_db: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        print(f"[{NAME}] sqlite", flush=True)
        per_db["sqlite"] = run_database(
            f"sqlite:///{tmp}/history.db", rows, args.queries, args.raw_days
        )
    url = postgres_url()
    try:
        print(f"[{NAME}] postgresql", flush=True)
        per_db["postgresql"] = run_database(url, rows, args.queries, args.raw_days)
    finally:
        drop_schema(url)
    windows = None if args.skip_windows else windows_case()
    p95 = {db: r["query_ms"]["p95"] for db, r in per_db.items()}
    checks = [{"database": db, "p95_ms": p95[db], "met": p95[db] <= TARGET_MS} for db in per_db] + [
        {
            "database": db,
            "results_lost": r["results_lost"],
            "worst_p95_relative_error": r["worst_p95_relative_error"],
            "met": r["results_lost"] == 0 and r["worst_p95_relative_error"] <= QUANTILE_ERROR,
        }
        for db, r in per_db.items()
    ]
    result = {
        "name": NAME,
        "machine": machine(),
        "rows": args.rows,
        "parameters": {
            "offerings": args.offerings,
            "days": args.days,
            "raw_days": args.raw_days,
            "queries": args.queries,
            "layout": "raw results for the retention period, hourly rollups of every complete "
            "hour (those of the pruned period replace their raw results); the query reads the "
            "rollups and the raw results of the current hour",
            "generate_share": 0.1,
        },
        "query_p95_ms": p95,
        "databases": per_db,
        "windows": windows,
        "target": {"description": "30-day routing query, p95", "max_p95_ms": TARGET_MS},
        "target_checks": checks,
        "met": all(c["met"] for c in checks),
    }
    path = write_result(NAME, result)
    table = [["database", "rows kept", "rollups", "prune s", "p50 ms", "p95 ms", "lost"]]
    for db, r in per_db.items():
        q = r["query_ms"]
        table.append(
            [
                db,
                str(r["raw_rows_kept"]),
                str(r["rollup_rows"]),
                str(r["prune_seconds"]),
                str(q["p50"]),
                str(q["p95"]),
                str(r["results_lost"]),
            ]
        )
    print_table(table)
    if windows:
        print(
            f"windows at {windows['offerings']} offerings: rebuilt p50 "
            f"{windows['rebuild_ms']['p50']} ms, "
            f"incremental p50 {windows['incremental_ms']['p50']} ms"
        )
    print(f"target: p95 <= {TARGET_MS:.0f} ms on both: met={result['met']}")
    print(f"[{NAME}] wrote {path}")
    return result


if __name__ == "__main__":
    main()
