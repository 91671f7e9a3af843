"""What the benchmarks share: the simulator subprocess, the simulated config, statistics
and the JSON result file."""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import math
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml

from monitor import outcomes
from monitor.catalogs import load_catalog
from monitor.config import Config, point_at_simulator, simulator_credentials
from monitor.http import build_client
from monitor.metrics import Metrics, pieces
from monitor.runner import ResultSink, Runner
from monitor.servers import free_port

RESULTS = Path(__file__).resolve().parent / "results"
HOST = "127.0.0.1"
#: the offering every single-endpoint benchmark probes
OFFERING = "lumenfall/imagen-4.0-generate-001"


def machine() -> dict[str, Any]:
    """The facts a reader needs to compare two result files."""
    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """The product's one nearest-rank quantile (``monitor.outcomes.quantile``) of already
    sorted values; NaN when there are none (a benchmark's table shows it as such)."""
    value = outcomes.quantile(sorted_values, q, presorted=True)
    return math.nan if value is None else value


def summary_ms(seconds: Sequence[float]) -> dict[str, float | int]:
    """p50/p90/p99/max (and min, mean, count) of durations given in seconds, in ms."""
    values = sorted(seconds)
    if not values:
        return {"count": 0}
    ms = 1000.0
    return {
        "count": len(values),
        "min": round(values[0] * ms, 3),
        "mean": round(sum(values) / len(values) * ms, 3),
        "p50": round(quantile(values, 0.50) * ms, 3),
        "p90": round(quantile(values, 0.90) * ms, 3),
        "p99": round(quantile(values, 0.99) * ms, 3),
        "max": round(values[-1] * ms, 3),
    }


def write_result(name: str, data: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` (sorted keys, so diffs stay small)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def provmon_command() -> list[str]:
    """The ``provmon`` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "provmon"
    if script.exists():
        return [str(script)]
    found = shutil.which("provmon")
    if found:
        return [found]
    return [sys.executable, "-m", "monitor.cli"]


def wait_for_port(
    port: int, *, timeout: float = 30.0, proc: subprocess.Popen[Any] | None = None, host: str = HOST
) -> None:
    """Wait until something accepts TCP connections on ``host:port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f}s")


def stop_process(proc: subprocess.Popen[Any], *, grace: float = 5.0) -> None:
    """Terminate one process we started, and kill it if it does not go."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=grace)


@contextlib.contextmanager
def simulator(scenario: dict[str, Any] | None = None) -> Iterator[tuple[str, int]]:
    """``provmon simulate`` in a separate process on a free loopback port.

    Yields ``(base URL, pid)``. The scenario (if any) is written to a temporary YAML file.
    """
    with tempfile.TemporaryDirectory(prefix="provmon-bench-") as folder:
        port = free_port(HOST)
        command = [*provmon_command(), "simulate", "--host", HOST, "--port", str(port)]
        if scenario is not None:
            path = Path(folder) / "scenario.yaml"
            path.write_text(yaml.safe_dump(scenario), encoding="utf-8")
            command += ["--scenario", str(path)]
        log = (Path(folder) / "simulator.log").open("w")
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_port(port, proc=proc)
            yield f"http://{HOST}:{port}", proc.pid
        finally:
            stop_process(proc)
            log.close()


def fixed_latency_scenario(seconds: float) -> dict[str, Any]:
    """Every OpenAI-compatible target answers after exactly ``seconds`` (ttfb), no inference."""
    return {
        "seed": 1,
        "targets": {
            "openai:*": {
                "latency": {"ttfb": {"fixed": seconds}, "inference": {"fixed": 0.0}},
            }
        },
    }


def simulated_config(sim_url: str, *, interval: float = 3600.0, timeout: float = 600.0) -> Config:
    """The default catalog aimed at the simulator, with its credentials set.

    Intervals and the timeout are large, so the runner's deadline never cuts a probe short.
    """
    base = load_catalog("imagen4")
    os.environ.update(simulator_credentials(base))
    schedule = {"interval_seconds": interval, "jitter_seconds": 0}
    defaults = {
        **base.defaults.model_dump(mode="json"),
        "control": schedule,
        "generate": schedule,
        "timeout_seconds": timeout,
    }
    return point_at_simulator(base, sim_url, defaults=defaults)


def cpu_seconds_of(pid: int) -> float:
    """User plus system CPU seconds a process has used so far, from ``/proc/<pid>/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    # after the command name: state is field 3, utime 14 and stime 15 (1-based)
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def print_table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


#: which client a :class:`KeyedClientRunner` probe uses; set in the probe's own task
client_key: contextvars.ContextVar[str] = contextvars.ContextVar("bench_client_key", default="")


class Clients:
    """One shared client (as the product keeps per provider, pool of 100), or one small
    client per key (as if each offering had its own)."""

    def __init__(self, per_key: bool) -> None:
        self.per_key = per_key
        self._clients: dict[str, httpx.AsyncClient] = {}

    def get(self, key: str) -> httpx.AsyncClient:
        key = key if self.per_key else ""
        client = self._clients.get(key)
        if client is None or client.is_closed:
            # an offering has at most a control and a generate probe in flight
            # (max_instances=1 per job), so two connections are enough
            client = build_client(timeout=600, max_connections=2 if self.per_key else 100)
            self._clients[key] = client
        return client

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()


class KeyedClientRunner(Runner):
    """The product runner, except that it takes its client from :class:`Clients` by the
    current :data:`client_key`: the bench's stand-in for one client per offering."""

    def __init__(self, config: Config, clients: Clients, sinks: Sequence[ResultSink] = ()) -> None:
        super().__init__(config, sinks)
        self.clients = clients

    def client_for(self, provider: str) -> httpx.AsyncClient:
        return self.clients.get(client_key.get())

    async def aclose(self) -> None:
        await self.clients.aclose()
        await super().aclose()


def quiet_logs() -> None:
    """Skipped runs are counted by the benchmarks; one warning line each would flood."""
    import logging

    for name in ("apscheduler", "monitor"):
        logging.getLogger(name).setLevel(logging.ERROR)


def render_once(metrics: Metrics) -> float:
    """Seconds for what ``/metrics`` does: gather the texts, then join every piece."""
    began = time.perf_counter()
    for _piece in pieces(metrics.render_chunks()):
        pass
    return time.perf_counter() - began


def postgres_server_url() -> str | None:
    """The PostgreSQL server a benchmark may use: ``PROVMON_BENCH_DATABASE_URL`` or
    ``PROVMON_TEST_DATABASE_URL``, else a throwaway one from ``scripts/pg-test.sh`` (None
    when the server is not installed)."""
    url = os.environ.get("PROVMON_BENCH_DATABASE_URL") or os.environ.get(
        "PROVMON_TEST_DATABASE_URL"
    )
    if url:
        return url
    script = Path(__file__).resolve().parents[1] / "scripts" / "pg-test.sh"
    done = subprocess.run([str(script), "start"], capture_output=True, text=True, check=False)
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def fresh_schema(url: str, prefix: str) -> str:
    """``url`` whose connections use a new, empty schema of their own (``prefix_<hex>``)."""
    import uuid

    import sqlalchemy as sa

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"
