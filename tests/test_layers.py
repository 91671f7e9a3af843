"""Layers: the pure engines load no database, metrics or HTTP library, and every
``provmon_*`` name of a scrape-time gauge is the metrics module's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.interfaces import Gauge
from monitor.metrics import GAUGES

ROOT = Path(__file__).resolve().parent.parent
PURE = (
    "monitor.health",
    "monitor.routing",
    "monitor.budget",
    "monitor.cadence",
    "monitor.windows",
    "monitor.outcomes",
    "monitor.pricing.state",
)
HEAVY = ("sqlalchemy", "prometheus_client", "httpx")


@pytest.mark.parametrize("module", PURE)
def test_a_pure_engine_loads_no_database_metrics_or_http_library(module: str) -> None:
    # a fresh interpreter: this one has loaded everything already
    code = f"import sys, json, {module}; print(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    loaded = set(json.loads(proc.stdout))
    assert module in loaded
    assert not loaded & set(HEAVY), f"{module} loads {sorted(loaded & set(HEAVY))}"


def test_every_gauge_has_its_name_and_help_in_the_metrics_module() -> None:
    assert set(GAUGES) == set(Gauge)
    names = [name for name, _ in GAUGES.values()]
    assert len(set(names)) == len(names)
    assert all(n.startswith("provmon_") and help_text for n, help_text in GAUGES.values())


def test_no_engine_spells_a_metric_name() -> None:
    """``provmon_*`` names appear in code only in the metrics package (docstrings and
    comments may cite them)."""
    import ast

    offenders = []
    for path in sorted((ROOT / "monitor").rglob("*.py")):
        if "metrics" in path.parts or "sim" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and "provmon_" in node.value
                and id(node) not in docstrings
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value[:60]}")
    assert offenders == []
