"""Shared by the ops-stack tests: the contract's metric names, PromQL helpers, tools."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parent.parent
ALERTS = ROOT / "prometheus" / "alerts.yml"
BOARD = ROOT / "grafana" / "dashboards" / "provmon-routing.json"

#: DESIGN.md's metric table (the contract), plus the additions it allows: the probe
#: deadline (style.md pattern 2) and dropped results (README)
DESIGN_METRICS = frozenset(
    {
        "provmon_probe_duration_seconds",
        "provmon_probes_total",
        "provmon_probes_skipped_total",
        "provmon_offering_state",
        # issue 14: 1 while an offering's latest answers blame our account (the lead adds it)
        "provmon_offering_account_problem",
        "provmon_price_usd",
        "provmon_price_fetch_success",
        "provmon_price_fetch_last_success_timestamp_seconds",
        "provmon_price_changes_total",
        "provmon_effective_cost_usd",
        "provmon_route_rank",
        "provmon_route_weight",
        "provmon_probe_spend_usd_total",
        "provmon_probe_budget_usd",
        "provmon_probe_budget_remaining_usd",
        "provmon_probe_timeout_seconds",
        "provmon_results_dropped_total",
        # second wave: model lifecycle (issue 16)
        "provmon_offering_lifecycle",
        "provmon_model_shutdown_timestamp_seconds",
        "provmon_catalog_unlisted",
        "provmon_catalog_new_models",
        "provmon_lifecycle_source_success",
        "provmon_served_model_changes_total",
        # DESIGN.md's second wave: status-feed incidents (issue 17)
        "provmon_status_feed_incident",
        # issue 18's series budget: where a generation's time goes, per provider (README)
        "provmon_probe_phase_duration_seconds",
    }
)
#: families whose series carry a suffix (a histogram's, or a summary's _sum and _count)
HISTOGRAMS = frozenset({"provmon_probe_duration_seconds", "provmon_probe_phase_duration_seconds"})

_KEYWORDS = frozenset(
    {
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "inf",
        "nan",
    }
)


def tool(name: str) -> str:
    """Path of a command-line tool; missing is a skip locally, a failure under CI=true."""
    found = shutil.which(name) or (
        f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None
    )
    if found is None:
        if IN_CI:
            pytest.fail(f"{name} is not installed under CI=true (.ci/run installs it)")
        pytest.skip(f"{name} is not installed")
    return found


def run(*cmd: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=cwd, check=False)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (recording-rule names included)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|`[^`]*`', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*(\()?", text):
        word, call = match.group(1), match.group(2)
        if call or word.lower() in _KEYWORDS or re.fullmatch(r"\d+[smhdwy]", word):
            continue
        names.add(word)
    return names


def design_name(name: str) -> bool:
    """True when ``name`` is a contract metric, or a histogram's series of one."""
    if name in DESIGN_METRICS:
        return True
    base, _, suffix = name.rpartition("_")
    return base in HISTOGRAMS and suffix in ("bucket", "count", "sum")


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def recording_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"] if "record" in rule]


def board() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(BOARD.read_text(encoding="utf-8"))
    return data


def panels(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel that shows data (rows left out, nested row panels included)."""
    out = []
    for panel in data["panels"]:
        if panel["type"] == "row":
            out.extend(panel.get("panels", []))
        else:
            out.append(panel)
    return out


def board_queries(data: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every Prometheus annotation."""
    out = [
        (f"panel {p['title']!r} target {t['refId']}", t["expr"])
        for p in panels(data)
        for t in p.get("targets", [])
    ]
    for ann in data["annotations"]["list"]:
        if ann.get("expr"):
            out.append((f"annotation {ann['name']!r}", ann["expr"]))
    return out


#: what Grafana puts in place of its variables when it runs a query ("All" is ".*")
GRAFANA_VALUES = {
    "__rate_interval": "1m",
    "__interval": "30s",
    "__range": "1h",
    "model": ".*",
    "provider": ".*",
    "vantage": ".*",
    # one kind at a time (the board's variable is single-valued), the board's default
    "kind": "generate",
}


def expand(expr: str, values: dict[str, str] | None = None) -> str:
    """``expr`` with Grafana's ``$var`` / ``${var}`` replaced as Grafana would."""
    table = {**GRAFANA_VALUES, **(values or {})}

    def sub(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return table[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", sub, expr)


def variables_used(expr: str) -> set[str]:
    return {a or b for a, b in re.findall(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", expr)}
