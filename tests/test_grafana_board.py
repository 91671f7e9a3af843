"""The routing-decision board, checked as Grafana and Prometheus would read it."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.ops_support import (
    ROOT,
    board,
    board_queries,
    design_name,
    expand,
    metric_names,
    panels,
    run,
    tool,
    variables_used,
)

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
BUILTINS = {"__rate_interval", "__interval", "__range"}


def test_board_has_no_instance_artefacts() -> None:
    data = board()
    assert data["id"] is None
    assert data["uid"] == "provmon-routing"  # links and provisioning rely on it
    assert data["title"] == "provmon — routing decisions"
    ids = [p["id"] for p in data["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    assert data["refresh"] and data["schemaVersion"] >= 36


def test_every_panel_and_query_uses_the_datasource_variable() -> None:
    data = board()
    for panel in panels(data):
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
    for ann in data["annotations"]["list"]:
        if ann.get("expr"):
            assert ann["datasource"] == DATASOURCE


def test_variables_exist_for_datasource_model_provider_vantage() -> None:
    variables = {v["name"]: v for v in board()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("model", "provider", "vantage"):
        assert variables[name]["datasource"] == DATASOURCE
        assert variables[name]["includeAll"] and variables[name]["allValue"] == ".*"
        assert "provmon_offering_state" in variables[name]["definition"]
    for where, expr in board_queries(board()):
        missing = variables_used(expr) - set(variables) - BUILTINS
        assert not missing, f"{where} uses undefined variables {missing}"


def test_every_query_parses_in_promtool(tmp_path: Path) -> None:
    promtool = tool("promtool")
    queries = board_queries(board())
    rules = [
        {"record": f"board:query_{i}", "expr": expand(expr)} for i, (_, expr) in enumerate(queries)
    ]
    path = tmp_path / "board-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "board", "rules": rules}]}))
    result = run(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


def test_queries_read_only_contract_metrics() -> None:
    for where, expr in board_queries(board()):
        names = metric_names(expand(expr))
        assert names, f"{where} reads no metric"
        for name in names:
            assert design_name(name), f"{where} reads {name}, which DESIGN.md does not list"


def test_board_answers_the_routing_questions() -> None:
    data = board()
    by_title = {p["title"]: p for p in panels(data)}
    exprs = {t: " ".join(x["expr"] for x in p["targets"]) for t, p in by_title.items()}
    assert "provmon_route_rank" in exprs["Current route per model"]
    assert "provmon_route_weight" in exprs["Current route per model"]
    assert "provmon_price_usd" in exprs["Listed price per offering"]
    assert "provmon_effective_cost_usd" in exprs["Effective cost per successful image"]
    latency = exprs["Latency percentiles per phase"]
    assert all(f"histogram_quantile({q}" in latency for q in ("0.5", "0.95", "0.99"))
    assert "by (le, phase)" in latency
    # where a generation's time goes, per provider, at every metrics detail but minimal
    assert "provmon_probe_phase_duration_seconds_sum" in latency
    assert "provmon_probe_phase_duration_seconds_count" in latency
    assert "outcome" in exprs["Outcomes over time"]
    avail = exprs["Availability over 5 m / 30 m / 1 d"]
    assert all(f"[{w}]" in avail for w in ("5m", "30m", "1d"))
    assert by_title["State timeline"]["type"] == "state-timeline"
    spend = exprs["Probe spend against budget"]
    assert "provmon_probe_budget_usd" in spend and "provmon_probe_spend_usd_total" in spend
    annotation = [a for a in data["annotations"]["list"] if a.get("expr")]
    assert any("provmon_price_changes_total" in a["expr"] for a in annotation)
    for panel in by_title.values():
        assert panel.get("description"), f"{panel['title']} does not explain itself"


def test_panels_do_not_overlap() -> None:
    taken: set[tuple[int, int]] = set()
    for panel in board()["panels"]:
        g = panel["gridPos"]
        cells = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not cells & taken, panel["title"]
        assert g["x"] + g["w"] <= 24
        taken |= cells


def test_provisioning_loads_this_board_from_the_path_compose_mounts() -> None:
    provider = yaml.safe_load(
        (ROOT / "grafana/provisioning/dashboards/provmon.yml").read_text("utf-8")
    )["providers"][0]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in mounts
    source = yaml.safe_load(
        (ROOT / "grafana/provisioning/datasources/prometheus.yml").read_text("utf-8")
    )["datasources"][0]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"


def test_the_kind_variable_picks_one_kind_at_a_time() -> None:
    """The duration buckets differ by kind (metrics detail default): a quantile over both
    kinds would mix two bucket layouts, and a generation's and a free call's latencies."""
    [kind] = [v for v in board()["templating"]["list"] if v["name"] == "kind"]
    assert kind["multi"] is False and kind["includeAll"] is False
    assert kind["current"]["value"] == "generate"
    assert {o["value"] for o in kind["options"]} == {"generate", "control"}
