"""The README's examples are real: its config validates, its scenario loads."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from monitor.config import parse_config
from monitor.sim.scenario import Scenario

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", README, flags=re.S)


def test_the_readme_config_example_is_a_valid_config() -> None:
    [config_text] = [b for b in yaml_blocks() if "offerings:" in b]
    config = parse_config(yaml.safe_load(config_text))
    assert config.enabled_offerings() == ["lumenfall/imagen-4.0-generate-001"]
    assert config.budget.offering_daily_usd == 1


def test_the_readme_scenario_example_loads() -> None:
    [scenario_text] = [b for b in yaml_blocks() if "targets:" in b]
    scenario = Scenario.from_text(scenario_text)
    assert "openai:*" in scenario.targets
