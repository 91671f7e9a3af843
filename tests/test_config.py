"""Config validation: every mistake names its key; the catalog and its simulated twin load."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from monitor.catalogs import catalog_text, demo_catalog, load_catalog
from monitor.config import (
    ConfigError,
    default_catalog_text,
    json_schema,
    load_config,
    parse_config,
    point_at_simulator,
    simulator_credentials,
)
from monitor.config_checks import MAX_CONFIG_BYTES

FIXTURES = Path(__file__).parent / "fixtures" / "config"

EXPECTED = {
    "invalid-unknown-key.yaml": "providers.p1.retries: unknown key",
    "invalid-protocol.yaml": "providers.p1.protocol: unknown protocol 'carrier-pigeon'",
    "invalid-offering-provider.yaml": "offerings.p2/m1: unknown provider 'p2'",
    "invalid-interval.yaml": "offerings.p1/m1.control.interval_seconds: Input should be "
    "greater than 0",
    "invalid-option.yaml": "providers.p1.options.control: Input should be 'get_model' or "
    "'list_models'",
    "invalid-yaml.yaml": "line 4: not valid YAML",
    "invalid-env-name.yaml": "providers.p1.credential_env: must be the name of an environment "
    "variable",
    "invalid-url-credentials.yaml": "providers.p1.base_url: credentials in the URL",
    "invalid-url-secret-query.yaml": "pricing_sources.page.url: query parameter 'api_key' "
    "looks like a credential",
    "invalid-duplicate-key.yaml": "line 12: duplicate key 'p1/m1'",
    "invalid-retired-after.yaml": "models.m1.retired_after: must be a date, YYYY-MM-DD",
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_invalid_config_names_the_bad_key(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(FIXTURES / name)
    assert str(info.value).startswith(EXPECTED[name])


def test_a_pasted_secret_is_not_echoed_back() -> None:
    for name in ("invalid-env-name.yaml", "invalid-url-secret-query.yaml"):
        with pytest.raises(ConfigError) as info:
            load_config(FIXTURES / name)
        assert "sk-live-0123456789" not in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_config(FIXTURES / "invalid-url-credentials.yaml")
    assert "hunter2" not in str(info.value) and "admin" not in str(info.value)


@pytest.mark.parametrize(
    ("where", "url"),
    [
        ("providers.fal.options.queue_url", "https://u:p@queue.fal.run"),
        ("providers.fal.base_url", "https://queue.fal.run?fal_key=abcd"),
        ("pricing_sources.fal_page.url", "https://fal.ai/models/{provider_model}?token=abcd"),
    ],
)
def test_every_configured_url_is_checked_for_credentials(where: str, url: str) -> None:
    data = yaml.safe_load(catalog_text("imagen4"))
    node = data
    *parents, leaf = where.split(".")
    for key in parents:
        node = node[key]
    node[leaf] = url
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert str(info.value).startswith(f"{where}: ") and "abcd" not in str(info.value)


def test_a_config_that_is_not_utf8_is_one_clear_problem(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("vantage: local\n# caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"line 2: not UTF-8 text"):
        load_config(path)


def test_an_oversized_config_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"# padding\n" * (MAX_CONFIG_BYTES // 10 + 1))
    with pytest.raises(ConfigError, match="larger than 4 MiB"):
        load_config(path)


def test_an_error_lists_a_bounded_number_of_problems() -> None:
    data = yaml.safe_load(default_catalog_text())
    for index in range(500):
        data["offerings"][f"nobody{index}/x"] = {"provider_model": "x" * 5000}
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    lines = str(info.value).splitlines()
    assert len(lines) == 21 and lines[-1].startswith("… and ")
    assert max(map(len, lines)) <= 300


def test_every_invalid_fixture_has_an_expected_message() -> None:
    names = {p.name for p in FIXTURES.glob("invalid-*.yaml")}
    assert names == set(EXPECTED)


def test_the_minimal_valid_config_loads_with_defaults() -> None:
    config = load_config(FIXTURES / "valid-minimal.yaml")
    assert config.vantage == "eu-west"
    assert config.schedule_for("p1/m1", "control").interval_seconds == 30
    assert config.timeout_for("p1/m1") == 120


def test_the_imagen4_catalog_describes_imagen_4() -> None:
    config = load_catalog("imagen4")
    assert set(config.models) == {
        "imagen-4.0-generate-001",
        "imagen-4.0-fast-generate-001",
        "imagen-4.0-ultra-generate-001",
    }
    for key, offering in config.offerings.items():
        assert offering.listed_price_usd is not None, key
        provider = config.providers[config.provider_of(key)]
        assert provider.credential_env, key
        assert provider.base_url.startswith("https://"), key


def test_the_demo_catalog_is_the_same_catalog_aimed_at_the_simulator() -> None:
    base = demo_catalog()
    sim = point_at_simulator(base, "http://127.0.0.1:9999")
    assert set(sim.offerings) == set(base.offerings)
    for provider in sim.providers.values():
        assert provider.base_url.startswith("http://127.0.0.1:9999/")
    assert simulator_credentials(base)


def test_missing_credentials_are_reported_by_variable_name() -> None:
    config = load_config(FIXTURES / "valid-minimal.yaml")
    assert config.missing_credentials({}) == [
        "providers.p1.credential_env: environment variable P1_KEY is not set"
    ]
    assert config.missing_credentials({"P1_KEY": "x"}) == []


def test_the_json_schema_rejects_unknown_keys() -> None:
    schema = json_schema()
    assert schema["additionalProperties"] is False
    assert "offerings" in schema["required"]
