"""The live catalog (monitor/catalog/live.yaml): today's models, the default of `provmon run`."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

import monitor
from monitor.catalogs import (
    as_usage,
    demo_catalog,
    load_catalog,
    merge_catalogs,
    rates_price,
    yaml_data,
)
from monitor.config import ConfigError, load_config, parse_config

LIVE = Path(monitor.__file__).parent / "catalog" / "live.yaml"


def test_run_defaults_to_the_live_catalog_of_20_paid_offerings_6_providers_4_families() -> None:
    config = load_config(None)
    assert set(config.offerings) == set(load_catalog("live").offerings)
    paid = {k: o for k, o in config.offerings.items() if o.listed_price_usd}
    assert len(paid) >= 20
    assert len({config.provider_of(k) for k in paid}) >= 6
    providers_of: dict[str, set[str]] = defaultdict(set)
    for key in paid:
        providers_of[config.models[config.model_of(key)].family].add(config.provider_of(key))
    assert len(providers_of) >= 4
    for family in ("gemini-image", "gpt-image", "flux-2", "seedream"):
        assert len(providers_of[family]) >= 2, family
    assert not any(m.retired_after for m in config.models.values())


def test_every_live_offering_has_a_family_a_price_and_a_one_image_cheapest_request() -> None:
    config = load_config(None)
    for key, offering in config.offerings.items():
        assert config.models[config.model_of(key)].family, key
        assert offering.listed_price_usd is not None and offering.listed_price_usd > 0, key
        assert offering.expect.width * offering.expect.height <= 2048 * 2048, key
        params = offering.params
        assert params.get("n", 1) == 1 and params.get("num_images", 1) == 1, key
        assert params.get("quality", "low") == "low", key
        if offering.rates:  # token/megapixel-priced: rates x usage is the listed price
            computed = rates_price(offering.rates, as_usage(offering.usage))
            assert computed is not None
            assert abs(computed - offering.listed_price_usd) / offering.listed_price_usd < Decimal(
                "0.1"
            ), key


def test_check_config_passes_on_the_live_catalog() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "check-config", str(LIVE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_demo_shows_the_live_catalog_and_the_retired_imagen_4_offerings() -> None:
    demo = demo_catalog()
    live, imagen = load_catalog("live"), load_catalog("imagen4")
    assert set(demo.offerings) == set(live.offerings) | set(imagen.offerings)
    # a provider both define keeps the live definition (Vertex on the global endpoint)
    assert demo.providers["vertex"] == live.providers["vertex"]
    assert all(demo.models[imagen.model_of(k)].retired_after for k in imagen.offerings)


def test_catalogs_that_contradict_each_other_do_not_merge() -> None:
    live = yaml_data(LIVE.read_text(encoding="utf-8"))
    other = {"providers": {"fal": {"protocol": "replicate", "credential_env": "FAL_KEY"}}}
    with pytest.raises(ConfigError, match=r"providers\.fal\.protocol: the catalogs disagree"):
        merge_catalogs(live, other)
    clash = {"models": {"gpt-image-2": {"family": "something-else"}}}
    with pytest.raises(ConfigError, match=r"models\.gpt-image-2: defined differently"):
        merge_catalogs(live, clash)


def test_a_token_rate_without_the_usage_it_prices_is_a_clear_error() -> None:
    data = yaml_data(LIVE.read_text(encoding="utf-8"))
    entry = data["offerings"]["openai/gpt-image-2"]
    entry.pop("usage")
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert "offerings.openai/gpt-image-2" in str(caught.value)
    assert "rates.image_output_token needs usage.output_image_tokens" in str(caught.value)


def test_a_listed_price_that_disagrees_with_rates_x_usage_is_rejected() -> None:
    data = yaml_data(LIVE.read_text(encoding="utf-8"))
    data["offerings"]["gemini/gemini-3-pro-image"]["listed_price_usd"] = 0.24
    with pytest.raises(ConfigError, match=r"listed_price_usd 0.24 disagrees with rates x usage"):
        parse_config(data)


README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_the_readme_table_lists_every_live_offering_with_its_protocol_unit_and_source() -> None:
    config = load_config(None)
    section = README.split("## The live catalog", 1)[1].split("\n## ", 1)[0]
    rows = {
        cells[0].strip("` "): [c.strip("` ") for c in cells[1:]]
        for line in section.splitlines()
        if line.startswith("| `")
        for cells in [line.strip("|").split("|")]
    }
    assert set(rows) == set(config.offerings)
    for key, offering in config.offerings.items():
        family, protocol, unit, listed, source = rows[key]
        assert family == config.models[config.model_of(key)].family, key
        assert protocol == config.providers[config.provider_of(key)].protocol, key
        assert unit == (", ".join(u.value for u in offering.rates) or "image"), key
        assert Decimal(listed) == offering.listed_price_usd, key
        assert source == (offering.pricing_sources or ["catalog only"])[0], key


def test_the_readme_add_an_offering_example_is_a_valid_offering() -> None:
    import re

    import yaml

    section = README.split("## Add an offering", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```yaml\n(.*?)```", section, flags=re.S)
    data = yaml_data(LIVE.read_text(encoding="utf-8"))
    data["offerings"].update(yaml.safe_load(block))
    config = parse_config(data)
    assert "fal/gpt-image-2.5-sunburst" in config.offerings


@pytest.mark.parametrize(
    "offering",
    [
        "fal/gemini-nano-banana-2.1",
        "fal/gpt-image-2",
        "fal/flux-2-pro",
        "fal/seedream-4.5",
        "fal/grok-imagine-image",
        "fal/mai-image-2.7",
        "fal/qwen-image",
        "replicate/flux-2-pro",
    ],
)
async def test_live_offerings_of_existing_fakes_generate_ok_against_the_simulator(
    sim_url: str, monkeypatch: pytest.MonkeyPatch, offering: str
) -> None:
    from monitor.config import point_at_simulator, simulator_credentials
    from monitor.interfaces import Kind, Outcome
    from monitor.runner import Runner

    base = load_catalog("live")
    for name, value in simulator_credentials(base).items():
        monkeypatch.setenv(name, value)
    runner = Runner(point_at_simulator(base, sim_url))
    try:
        result = await runner.run_probe(offering, Kind.GENERATE)
        control = await runner.run_probe(offering, Kind.CONTROL)
    finally:
        await runner.aclose()
    assert result.outcome == Outcome.OK, result.error
    assert result.image is not None and (result.image.width, result.image.height) == (1024, 1024)
    assert result.cost_usd == base.offerings[offering].listed_price_usd
    assert control.outcome == Outcome.OK, control.error
