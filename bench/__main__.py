"""``python -m bench``: every benchmark, then one summary table.

Each benchmark writes ``bench/results/<name>.json``; targets are reported, never asserted,
so this exits 0 when a target is missed and non-zero only when a benchmark could not run.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from bench import agent_cpu, backtest, cpu, drift, history, metrics_render, overhead, scale, soak
from bench._common import print_table

BENCHMARKS: dict[str, Callable[[list[str] | None], dict[str, Any]]] = {
    "overhead": overhead.main,
    "drift": drift.main,
    "cpu": cpu.main,
    "agent_cpu": agent_cpu.main,
    "backtest": backtest.main,
    "soak": soak.main,
    "metrics_render": metrics_render.main,
    "history": history.main,
    "scale": scale.main,
}


def headline(name: str, result: dict[str, Any]) -> tuple[str, str]:
    """(measured, target) in a few words for the summary table."""
    if name == "soak":
        rss, res, met = result["rss_mib"], result["results"], result["metrics"]
        return (
            f"RSS {rss['first_10pct_median']} -> {rss['last_10pct_median']} MiB, lost "
            f"{res['lost']} of {res['produced']}, /metrics render p99 "
            f"{met['render_during_run_ms'].get('p99')} ms",
            "RSS flat, 0 lost, /metrics <= 50 ms",
        )
    if name == "metrics_render":
        render, plain = result["render_ms"], result["generate_latest_ms"]
        return (
            f"render p50 {render['p50']} / p99 {render['p99']} ms, generate_latest p50 "
            f"{plain['p50']} ms ({result['exposition']['samples']} samples); under load p99 "
            f"{result['render_p99_ms_under_load']} ms, {result['series_per_offering']} "
            "series per offering",
            f"/metrics render p99 <= {result['target_ms']:g} ms at 1,000 offerings, also "
            "under load; <= 60 series per offering",
        )
    if name == "history":
        p95 = result["query_p95_ms"]
        return (
            f"30-day routing query over {result['rows']:,} rows: p95 SQLite {p95['sqlite']} ms, "
            f"PostgreSQL {p95['postgresql']} ms",
            f"p95 <= {result['target']['max_p95_ms']:g} ms on both",
        )
    if name == "scale":
        return (
            f"{result['offerings']} offerings: drift p99 {result['drift_p99_ms']} ms, lost "
            f"{result['lost']}, RSS {result['rss_mib']} MiB, CPU/probe "
            f"{result['cpu_ms_per_probe_agent']} ms (blackbox "
            f"{result['cpu_ms_per_probe_blackbox']}), {result['series_per_offering']} "
            f"series/offering, /metrics p99 {result['metrics_render_p99_ms_under_load']} ms, "
            f"takeover {result['takeover_s']} s",
            "drift <= 250 ms, 0 lost, <= 1 GiB, <= blackbox, <= 60, <= 50 ms, <= 60 s",
        )
    if name == "backtest":
        return result["headline"], "cost <= oracle +3%, SLO minutes <= 10% of static"
    if name == "overhead":
        parts = [f"{c['kind']} p99 {c['p99_ms']} ms" for c in result["target_checks"]]
        return (
            "ttfb - injected, 200 in flight: " + ", ".join(parts),
            f"p99 <= {result['target']['max_p99_ms']:g} ms",
        )
    if name == "drift":
        parts = [f"{c['variant']} p99 {c['p99_ms']} ms" for c in result["target_checks"]]
        return "start drift " + ", ".join(parts), "p99 <= 250 ms"
    if name == "agent_cpu":
        return (
            f"whole agent {result['cpu_ms_per_probe_agent']} ms, blackbox_exporter "
            f"{result['cpu_ms_per_probe_blackbox']} ms CPU per probe, ratio {result['ratio']}",
            "ratio <= 1.0 (whole processes, same run)",
        )
    per = result["cpu_ms_per_probe"]
    return (
        f"provmon {per['provmon']['median']} ms, blackbox "
        f"{per['blackbox_exporter']['median']} ms per probe, ratio "
        f"{result['ratio_provmon_to_blackbox']}",
        "ratio <= 1.0",
    )


def main() -> int:
    names = sys.argv[1:] or list(BENCHMARKS)
    rows = [["benchmark", "met", "measured", "target", "seconds"]]
    failed = False
    for name in names:
        began = time.monotonic()
        try:
            result = BENCHMARKS[name]([])
        except Exception:
            traceback.print_exc()
            rows.append([name, "error", "did not run", "", f"{time.monotonic() - began:.0f}"])
            failed = True
            continue
        measured, target = headline(name, result)
        rows.append(
            [name, str(result["met"]).lower(), measured, target, f"{time.monotonic() - began:.0f}"]
        )
        print()
    print_table(rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
