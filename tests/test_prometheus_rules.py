"""The alert rules as Prometheus itself reads them: promtool checks and unit tests."""

from __future__ import annotations

import re

import yaml

from tests.ops_support import (
    ALERTS,
    ROOT,
    alert_rules,
    design_name,
    metric_names,
    recording_rules,
    run,
    tool,
)

TESTS = ROOT / "prometheus" / "alerts_test.yml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
#: the alerts issue 7 asks for, by what they watch
REQUIRED = {
    "ProvmonOfferingDown",
    "ProvmonOfferingDegraded",
    "ProvmonHighErrorRatio",
    "ProvmonLatencyBudgetBurnFast",
    "ProvmonLatencyBudgetBurnSlow",
    "ProvmonModelRetired",
    "ProvmonPriceChanged",
    "ProvmonPriceSourceFailing",
    "ProvmonPriceSourceStale",
    "ProvmonProbeBudgetNearlySpent",
    "ProvmonRouteChanged",
}


def test_promtool_accepts_the_rules_and_the_scrape_config() -> None:
    promtool = tool("promtool")
    rules = run(promtool, "check", "rules", str(ALERTS))
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert f"SUCCESS: {len(alert_rules()) + len(recording_rules())} rules found" in rules.stdout
    config = run(promtool, "check", "config", str(ROOT / "prometheus" / "prometheus.yml"))
    assert config.returncode == 0, config.stdout + config.stderr


def test_promtool_unit_tests_pass() -> None:
    result = run(tool("promtool"), "test", "rules", str(TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    cases = [
        case
        for test in yaml.safe_load(TESTS.read_text(encoding="utf-8"))["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    names = {rule["alert"] for rule in alert_rules()}
    assert names >= REQUIRED
    for name in names:
        mine = [c for c in cases if c["alertname"] == name]
        assert any(c.get("exp_alerts") for c in mine), f"{name} is never tested firing"
        assert any(not c.get("exp_alerts") for c in mine), f"{name} is never tested silent"
        for case in mine:
            for alert in case.get("exp_alerts") or []:
                # the message on-call reads is part of the test, not left to chance
                assert set(alert["exp_annotations"]) == {"summary", "description", "runbook_url"}


def _anchors(markdown: str) -> dict[str, str]:
    """GitHub's anchor for each '## ' heading, to the section's text."""
    sections = re.split(r"^## ", markdown, flags=re.M)[1:]
    out = {}
    for section in sections:
        heading, _, body = section.partition("\n")
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        out[slug] = body
    return out


def test_every_alert_says_what_happened_and_links_its_runbook_section() -> None:
    sections = _anchors(RUNBOOKS.read_text(encoding="utf-8"))
    for rule in alert_rules():
        notes = rule["annotations"]
        assert notes["summary"].strip() and notes["description"].strip(), rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        path, _, anchor = notes["runbook_url"].partition("#")
        assert path == "docs/runbooks.md", rule["alert"]
        assert anchor in sections, f"{rule['alert']}: no section #{anchor} in docs/runbooks.md"
        body = sections[anchor]
        for part in ("What it means", "What to check", "What to do"):
            assert f"**{part}.**" in body, f"runbook #{anchor} lacks {part!r}"


def test_rules_read_only_contract_metrics() -> None:
    recorded = {rule["record"] for rule in recording_rules()}
    for rule in alert_rules() + recording_rules():
        for name in metric_names(rule["expr"]):
            assert design_name(name) or name in recorded or name == "up", (
                f"{rule.get('alert') or rule.get('record')} reads {name}, not in DESIGN.md"
            )


def test_alertmanager_example_groups_by_provider() -> None:
    config = yaml.safe_load((ROOT / "prometheus" / "alertmanager.yml").read_text("utf-8"))
    assert "provider" in config["route"]["group_by"]
    assert all("provider" in r.get("group_by", ["provider"]) for r in config["route"]["routes"])
    result = run(tool("amtool"), "check-config", str(ROOT / "prometheus" / "alertmanager.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
