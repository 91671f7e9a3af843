"""The LiteLLM callback with the real ``litellm`` package: a Router built from the config
provmon exports sends image generations to the simulator; the callback posts each one
to a running provmon; an outage at one provider shows in provmon's state from those
passive samples alone (no probes are scheduled) and the route moves off it."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from monitor.config import Config
from monitor.exports import litellm_config, render, targets_from_config
from monitor.integrations.litellm import ProvmonLogger, outcome_of_error, sample_of
from monitor.interfaces import Outcome
from monitor.routing import PolicyName
from tests.conftest import set_behaviour
from tests.test_flows import (
    FAST,
    GEMINI,
    LUMENFALL,
    MODEL,
    PASSIVE_ENV,
    flow_config,
    serving,
    state_of,
    until,
)

TOKEN = "litellm-passive-token"
#: the simulator's targets (``fake:model``) of the two offerings
SIM_TARGET = {LUMENFALL: f"openai:{MODEL}", GEMINI: f"gemini:{MODEL}"}


@pytest.fixture(autouse=True)
def _offline_litellm(monkeypatch: pytest.MonkeyPatch) -> None:
    # LiteLLM fetches its price map from GitHub at import unless told not to
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def test_only_image_generations_of_provmon_offerings_become_samples() -> None:
    start = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
    end = start + dt.timedelta(seconds=7.5)
    kwargs: dict[str, Any] = {
        "standard_logging_object": {"model_id": LUMENFALL, "call_type": "aimage_generation"}
    }
    assert sample_of(kwargs, start, end, failed=False) == {
        "offering": LUMENFALL,
        "outcome": "ok",
        "latency_s": 7.5,
        "at": start.isoformat(),
    }
    failed = {
        "standard_logging_object": {
            "model_id": LUMENFALL,
            "call_type": "image_generation",
            "error_information": {"error_class": "RateLimitError", "error_code": "429"},
        }
    }
    assert sample_of(failed, start, end, failed=True)["outcome"] == "rate_limited"  # type: ignore[index]
    chat = {"standard_logging_object": {"model_id": LUMENFALL, "call_type": "acompletion"}}
    assert sample_of(chat, start, end, failed=False) is None
    foreign = {"standard_logging_object": {"model_id": None, "call_type": "image_generation"}}
    assert sample_of(foreign, start, end, failed=False) is None
    assert outcome_of_error(None, "503") == Outcome.SERVER_ERROR
    assert outcome_of_error("NotFoundError", "404") == Outcome.MODEL_UNAVAILABLE


def exported_router(config: Config, service: Any) -> Any:
    """A LiteLLM Router from the config ``provmon route --format litellm`` writes (the
    service's routes; YAML text, as a gateway would read it)."""
    from litellm import Router

    service.evaluate_routes()
    routes = service.routing.routes(policy=PolicyName.COST, model=MODEL)
    loaded = yaml.safe_load(render(litellm_config(routes, targets_from_config(config)), "yaml"))
    settings = {**loaded["router_settings"], "num_retries": 0, "cooldown_time": 0}
    return Router(model_list=loaded["model_list"], **settings), loaded


async def test_an_outage_reaches_provmon_through_litellm_traffic_alone(
    sim_config: Config, sim_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import litellm

    set_behaviour(sim_url, "*", **FAST)
    monkeypatch.setenv(PASSIVE_ENV, TOKEN)
    # where the gateway's LiteLLM finds the Gemini API (LiteLLM reads GEMINI_API_BASE);
    # Lumenfall's base URL is in the exported config itself
    monkeypatch.setenv("GEMINI_API_BASE", f"{sim_url}/gemini/v1beta")
    config = flow_config(
        sim_config, offerings=(LUMENFALL, GEMINI), passive={"token_env": PASSIVE_ENV}
    )
    db = f"sqlite:///{tmp_path / 'provmon.db'}"
    async with serving(config, db, schedule=False) as (service, api):
        router, exported = exported_router(config, service)
        assert {d["model_info"]["id"] for d in exported["model_list"]} == {LUMENFALL, GEMINI}
        logger = ProvmonLogger(str(api.base_url), token_env=PASSIVE_ENV, flush_interval_s=0.2)
        monkeypatch.setattr(litellm, "callbacks", [logger])
        try:
            errors: list[str] = []

            async def generate(n: int) -> None:
                for _ in range(n):
                    # a failed deployment is LiteLLM's error to the app; the sample is ours
                    try:
                        await router.aimage_generation(model=MODEL, prompt="a red cube", n=1)
                    except Exception as exc:
                        errors.append(f"{type(exc).__name__}: {str(exc)[:300]}")

            await generate(6)
            first = min(exported["model_list"], key=lambda d: d["litellm_params"]["order"])
            primary = first["model_info"]["id"]
            [other] = {LUMENFALL, GEMINI} - {primary}

            async def primary_up() -> bool:
                return (await state_of(api, primary))["state"] == "up"

            try:
                await until(primary_up, 20)
            except AssertionError:
                raise AssertionError(f"{errors[:3]} sent={logger.sent}") from None
            # LiteLLM sends to the first order only: the other one is still unmeasured
            assert (await state_of(api, other))["state"] == "unknown"

            # the primary's upstream fails every generation; LiteLLM falls back to the other
            set_behaviour(sim_url, SIM_TARGET[primary], outage="error")

            async def primary_down_other_up() -> bool:
                await generate(3)
                states = [(await state_of(api, o))["state"] for o in (primary, other)]
                return states == ["down", "up"]

            # passive evidence alone makes an offering down only when spread over distinct
            # minutes (issue 13: one batch is a claim, not an outage): about three minutes
            await until(primary_down_other_up, 240, interval=5)
            assert logger.sent >= 9
            probes = (await api.get("/api/probes", params={"offering": primary})).json()
            assert not [p for p in probes if p.get("kind") == "generate"]  # no paid probe

            # the route moves: the other one first, in provmon and in the config it exports
            service.evaluate_routes()
            response = await api.get("/api/routing", params={"model": MODEL, "policy": "cost"})
            [route] = response.json()["routes"]
            assert route["first"] == other
            _, moved = exported_router(config, service)
            now_first = min(moved["model_list"], key=lambda d: d["litellm_params"]["order"])
            assert now_first["model_info"]["id"] == other
        finally:
            await asyncio.to_thread(logger.close)
            async with httpx.AsyncClient() as client:
                await client.delete(f"{sim_url}/_sim/behaviour")
