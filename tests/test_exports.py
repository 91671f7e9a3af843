"""Gateway exports checked against what each gateway documents.

LiteLLM: the output is loaded by LiteLLM's own ``Router`` (a dev dependency) and the
deployment it picks is asserted. OpenRouter and Portkey: JSON Schemas written from their
documentation (OpenRouter provider-routing docs and the SDKs' ``MaxPrice``; Portkey-AI/gateway
``src/middlewares/requestValidator/schema/config.ts`` and ``globals.ts``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import jsonschema
import pytest
import yaml

from monitor.catalogs import load_catalog
from monitor.exports import (
    FORMATS,
    litellm_config,
    openrouter_config,
    portkey_config,
    render,
    targets_from_config,
)
from monitor.health import State
from monitor.routing import OfferingView, PolicyName, Route, RoutingEngine, Snapshot
from monitor.windows import WindowStats

MODEL = "imagen-4.0-generate-001"
T0 = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
SECRET_MARKERS = ("sim-", "sk-", "key-")

OPENROUTER_PROVIDER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "order": {"type": "array", "items": {"type": "string"}},
        "allow_fallbacks": {"type": "boolean"},
        "require_parameters": {"type": "boolean"},
        "data_collection": {"enum": ["allow", "deny"]},
        "only": {"type": "array", "items": {"type": "string"}},
        "ignore": {"type": "array", "items": {"type": "string"}},
        "sort": {"enum": ["price", "throughput", "latency"]},
        "max_price": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                k: {"type": ["number", "string"]}
                for k in ("prompt", "completion", "image", "audio", "request")
            },
        },
    },
}

_PORTKEY_TARGET: dict[str, Any] = {
    "type": "object",
    "properties": {
        "strategy": {
            "type": "object",
            "required": ["mode"],
            "properties": {
                "mode": {"enum": ["single", "loadbalance", "fallback", "conditional"]},
                "on_status_codes": {"type": "array", "items": {"type": "integer"}},
            },
        },
        # globals.ts VALID_PROVIDERS, the ones provmon can emit
        "provider": {"enum": ["openai", "google", "vertex-ai", "replicate"]},
        "api_key": {"type": "string"},
        "virtual_key": {"type": "string"},
        "weight": {"type": "number"},
        "override_params": {"type": "object"},
        "custom_host": {"type": "string", "not": {"pattern": "api\\.portkey"}},
        "vertex_project_id": {"type": "string"},
        "vertex_region": {"type": "string"},
        "on_status_codes": {"type": "array", "items": {"type": "integer"}},
        "targets": {"type": "array", "items": {"$ref": "#"}},
    },
    "anyOf": [
        {"required": ["strategy", "targets"]},
        {"required": ["provider", "api_key"]},
        {"required": ["virtual_key"]},
    ],
    # config.ts: vertex-ai needs a region and a project (or a service account)
    "if": {"properties": {"provider": {"const": "vertex-ai"}}, "required": ["provider"]},
    "then": {"required": ["vertex_region", "vertex_project_id"]},
}


@pytest.fixture(autouse=True)
def _offline_litellm(monkeypatch: pytest.MonkeyPatch) -> None:
    # LiteLLM fetches its price map from GitHub at import unless told not to
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def _views(down: str = "gemini") -> Iterator[OfferingView]:
    config = load_catalog("imagen4")
    for offering, entry in config.offerings.items():
        provider, _, model = offering.partition("/")
        errors = 3 if provider == "fal" else 0
        yield OfferingView(
            offering=offering,
            provider=provider,
            model=model,
            state=State.DOWN if provider == down else State.UP,
            price_usd=entry.listed_price_usd,
            windows={
                "30m": WindowStats(
                    offering=offering,
                    window="30m",
                    successes=30 - errors,
                    errors=errors,
                    p50_s=5.0,
                    p95_s={"vertex": 7.0, "replicate": 7.5}.get(provider, 8.0),
                )
            },
        )


def routes(policy: PolicyName, model: str | None = MODEL) -> list[Route]:
    engine = RoutingEngine()
    engine.evaluate(Snapshot(at=T0, offerings=tuple(_views())))
    return engine.routes(policy=policy, model=model)


def no_secrets(text: str) -> None:
    assert not any(marker in text for marker in SECRET_MARKERS), text


@pytest.mark.parametrize("policy", list(PolicyName))
def test_litellm_config_loads_in_litellms_router_and_picks_the_first_choice(
    policy: PolicyName, monkeypatch: pytest.MonkeyPatch
) -> None:
    from litellm import Router

    targets = targets_from_config(load_catalog("imagen4"))
    route = routes(policy)[0]
    config = litellm_config([route], targets)
    text = render(config, "yaml")
    no_secrets(text)
    loaded = yaml.safe_load(text)
    for name in ("GEMINI_API_KEY", "FAL_KEY", "REPLICATE_API_TOKEN", "LUMENFALL_API_KEY"):
        monkeypatch.setenv(name, "placeholder")
    router = Router(model_list=loaded["model_list"], **loaded["router_settings"])
    deployments = router.get_model_list(model_name=MODEL) or []
    assert {d["model_info"]["id"] for d in deployments} == {e.offering for e in route.ranked}
    assert all(d["litellm_params"]["model"] != "" for d in deployments)
    picked = router.get_available_deployment(model=MODEL)
    weighted = {e.offering for e in route.entries if e.weight > 0}
    assert picked["model_info"]["id"] in weighted
    assert route.first is not None and route.first.offering in weighted


def test_litellm_model_names_follow_each_providers_litellm_prefix() -> None:
    import litellm

    targets = targets_from_config(load_catalog("imagen4"))
    models = {
        d["model_info"]["id"].partition("/")[0]: d["litellm_params"]
        for d in litellm_config(routes(PolicyName.COST), targets)["model_list"]
    }
    assert models["vertex"]["model"] == "vertex_ai/imagen-4.0-generate-001"
    assert models["fal"]["model"] == "fal_ai/fal-ai/imagen4/preview"
    assert models["replicate"]["model"] == "replicate/google/imagen-4"
    assert models["lumenfall"]["model"] == "openai/imagen-4.0-generate-001"
    assert models["lumenfall"]["api_base"] == "https://api.lumenfall.ai/openai/v1"
    assert "gemini" not in models  # down: excluded
    for params in models.values():
        provider = litellm.get_llm_provider(params["model"], api_base=params.get("api_base"))[1]
        assert params["model"].startswith(provider + "/")
    # equal effective costs tie-break by offering id: lumenfall, replicate, vertex; fal is
    # a fallback (90% success) after them
    assert [models[p]["order"] for p in ("lumenfall", "replicate", "vertex", "fal")] == [1, 2, 3, 4]


def test_litellm_gemini_deployment_uses_the_gemini_prefix_when_up() -> None:
    engine = RoutingEngine()
    engine.evaluate(Snapshot(at=T0, offerings=tuple(_views(down="fal"))))
    targets = targets_from_config(load_catalog("imagen4"))
    config = litellm_config(engine.routes(policy=PolicyName.COST, model=MODEL), targets)
    names = {d["litellm_params"]["model"] for d in config["model_list"]}
    assert "gemini/imagen-4.0-generate-001" in names


@pytest.mark.parametrize("policy", list(PolicyName))
def test_openrouter_provider_object_matches_the_documented_fields(policy: PolicyName) -> None:
    targets = targets_from_config(load_catalog("imagen4"))
    config = openrouter_config(routes(policy, model=None), targets)
    assert len(config) == 3
    for body in config.values():
        jsonschema.validate(body["provider"], OPENROUTER_PROVIDER_SCHEMA)
    provider = config[MODEL]["provider"]
    assert provider["order"] == ["google-vertex"]
    assert provider["ignore"] == ["google-ai-studio"]
    assert provider["max_price"] == {"image": 0.04}


@pytest.mark.parametrize("policy", list(PolicyName))
def test_portkey_config_matches_the_gateway_schema(policy: PolicyName) -> None:
    targets = targets_from_config(load_catalog("imagen4"))
    config = portkey_config(routes(policy, model=None), targets)
    text = render(config)
    no_secrets(text)
    for body in json.loads(text).values():
        jsonschema.validate(body, _PORTKEY_TARGET)
        assert body["strategy"]["mode"] == "fallback"
    flat = json.dumps(config[MODEL])
    assert "fal-ai/imagen4" not in flat  # Portkey has no fal provider
    assert '"vertex_region": "us-central1"' in flat


def test_portkey_balanced_route_nests_a_weighted_loadbalance_group() -> None:
    targets = targets_from_config(load_catalog("imagen4"))
    config = portkey_config(routes(PolicyName.BALANCED), targets)[MODEL]
    group = config["targets"][0]
    assert group["strategy"] == {"mode": "loadbalance"}
    assert len(group["targets"]) >= 2
    assert all(t["weight"] > 0 for t in group["targets"])


def test_portkey_env_credentials_are_placeholders_never_values() -> None:
    os.environ.setdefault("LUMENFALL_API_KEY", "sk-should-not-appear")
    targets = targets_from_config(load_catalog("imagen4"))
    config = portkey_config(routes(PolicyName.COST), targets, credentials="env")
    keys = {t.get("api_key") for t in config[MODEL]["targets"]}
    assert "${LUMENFALL_API_KEY}" in keys
    no_secrets(render(config))


def test_every_cli_format_renders_as_json() -> None:
    targets = targets_from_config(load_catalog("imagen4"))
    for name, build in FORMATS.items():
        data = json.loads(render(build(routes(PolicyName.COST), targets)))
        assert data, name
    assert json.loads(render(FORMATS["json"](routes(PolicyName.COST), targets)))["routes"]
    assert Decimal(
        json.loads(render(FORMATS["json"](routes(PolicyName.COST), targets)))["routes"][0][
            "entries"
        ][0]["price_usd"]
    ) == Decimal("0.04")
