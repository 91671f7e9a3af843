"""``provmon catalog discover``: the catalog against the fakes' own model listings, as a
person runs it: a simulator process with a scenario, the command in another process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monitor.catalogs import load_catalog
from monitor.discovery import as_json, compare, snippet
from monitor.interfaces import ListedModel
from tests.conftest import simulator_process
from tests.test_cli import provmon

IMAGEN4 = str(Path(__file__).parents[1] / "monitor" / "catalog" / "imagen4.yaml")
SCENARIO = """
targets:
  "openai:imagen-4.0-ultra-generate-001": {retired: true}
extra_models:
  openai: [flux-3-image]
"""


@pytest.fixture(scope="module")
def scenario_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder: Path = tmp_path_factory.mktemp("discover")
    (folder / "scenario.yaml").write_text(SCENARIO)
    with simulator_process(folder / "scenario.yaml") as url:
        yield url


def test_discover_names_the_retired_offering_unlisted_and_the_new_model(scenario_sim: str) -> None:
    proc = provmon(
        "catalog",
        "discover",
        "--provider",
        "lumenfall",
        "--json",
        "--simulator",
        scenario_sim,
        "--config",
        IMAGEN4,
    )
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert set(found) == {"unlisted", "new"}
    assert found["unlisted"] == ["lumenfall/imagen-4.0-ultra-generate-001"]
    assert {"provider": "lumenfall", "model": "flux-3-image", "price_usd": None} in found["new"]
    assert all(item["provider"] == "lumenfall" for item in found["new"])


def test_the_new_model_answers_generation_requests_too(scenario_sim: str) -> None:
    answer = httpx.post(
        f"{scenario_sim}/openai/v1/images/generations",
        headers={"Authorization": "Bearer sim-lumenfall-key"},
        json={"model": "flux-3-image", "prompt": "a red cube", "size": "1024x1024"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text


def test_discover_prints_yaml_that_would_add_the_new_models(scenario_sim: str) -> None:
    proc = provmon(
        "catalog", "discover", "-p", "lumenfall", "--simulator", scenario_sim, "-c", IMAGEN4
    )
    assert proc.returncode == 0, proc.stderr
    assert "unlisted (suspect retired): lumenfall/imagen-4.0-ultra-generate-001" in proc.stdout
    assert "  lumenfall/flux-3-image:\n    provider_model: flux-3-image" in proc.stdout


def test_an_unknown_provider_is_one_clear_line() -> None:
    proc = provmon("catalog", "discover", "--provider", "nosuch")
    assert proc.returncode == 2
    assert proc.stderr.startswith("provmon: error: unknown provider 'nosuch'")


def test_compare_reads_ids_with_prefixes_skips_deprecated_and_keeps_prices() -> None:
    config = load_catalog("imagen4")
    listed = [
        ListedModel(model="models/imagen-4.0-generate-001", image=True),
        ListedModel(model="imagen-4.0-fast-generate-001", image=True),
        ListedModel(model="gemini-nano-banana-2.1", image=True),
        ListedModel(model="old-image-model", image=True, deprecated=True),
        ListedModel(model="text-embedding-9", image=False),
    ]
    found = compare(config, "gemini", listed)
    assert found.unlisted == ("gemini/imagen-4.0-ultra-generate-001",)
    assert [m.model for m in found.new] == ["gemini-nano-banana-2.1"]
    assert as_json([found])["new"] == [
        {"provider": "gemini", "model": "gemini-nano-banana-2.1", "price_usd": None}
    ]
    assert "gemini/gemini-nano-banana-2.1:" in snippet(config, [found])


@pytest.mark.parametrize("provider", ["xai", "recraft", "byteplus"])
def test_a_provider_sharing_the_openai_fake_lists_only_its_own_models(
    scenario_sim: str, provider: str
) -> None:
    """Against the live catalog, nothing is new or unlisted for these providers: the fake
    answers each key with that provider's models, not every model it serves."""
    proc = provmon("catalog", "discover", "-p", provider, "--json", "--simulator", scenario_sim)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert found == {"unlisted": [], "new": []}, found


def test_the_openai_fake_lists_a_keys_own_models_whichever_header_carries_it(
    scenario_sim: str,
) -> None:
    """Azure's ``api-key`` header is accepted like ``Authorization: Bearer``, and the key
    it carries picks the same listing."""

    def listed(headers: dict[str, str]) -> list[str]:
        answer = httpx.get(f"{scenario_sim}/openai/v1/models", headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
        return sorted(m["id"] for m in answer.json()["data"])

    bearer = listed({"authorization": "Bearer sim-xai-key"})
    assert bearer and all(m.startswith("grok-") for m in bearer)
    assert listed({"api-key": "sim-xai-key"}) == bearer
