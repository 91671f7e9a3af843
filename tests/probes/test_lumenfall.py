"""The OpenAI-compatible probe (Lumenfall) against the simulator, one test per outcome."""

from __future__ import annotations

import pytest

from monitor.config import Config
from monitor.interfaces import Kind, Outcome, Phase
from monitor.runner import Runner
from tests.conftest import set_behaviour

OFFERING = "lumenfall/imagen-4.0-generate-001"
TARGET = "openai:imagen-4.0-generate-001"


async def probe(config: Config, kind: Kind = Kind.GENERATE, offering: str = OFFERING):
    runner = Runner(config)
    try:
        return await runner.run_probe(offering, kind)
    finally:
        await runner.aclose()


async def test_a_generation_returns_a_checked_image_with_download_timed(sim_config: Config) -> None:
    result = await probe(sim_config)
    assert result.outcome == Outcome.OK, result.error
    assert result.image is not None
    assert (result.image.width, result.image.height) == (1024, 1024)
    assert result.image.mime == "image/png"
    assert {Phase.TTFB, Phase.DOWNLOAD, Phase.TOTAL} <= set(result.phases)
    assert result.phases[Phase.TOTAL] >= result.phases[Phase.TTFB]
    assert result.provider_request_id and result.provider_request_id.startswith("req_")
    assert result.http_status == 200
    assert str(result.cost_usd) == "0.04"


async def test_b64_json_answers_need_no_download(sim_config: Config) -> None:
    cfg = sim_config.model_copy(deep=True)
    cfg.offerings[OFFERING].params["response_format"] = "b64_json"
    result = await probe(cfg)
    assert result.outcome == Outcome.OK, result.error
    assert Phase.DOWNLOAD not in result.phases


async def test_control_probe_gets_the_model_for_free(sim_config: Config) -> None:
    result = await probe(sim_config, Kind.CONTROL)
    assert result.outcome == Outcome.OK, result.error
    assert result.cost_usd == 0


@pytest.mark.parametrize(
    ("behaviour", "outcome"),
    [
        ({"outage": "error"}, Outcome.SERVER_ERROR),
        ({"outage": "unavailable"}, Outcome.SERVER_ERROR),
        ({"error_ratio": 1.0, "error_status": 502}, Outcome.SERVER_ERROR),
        ({"rate_limit_ratio": 1.0, "retry_after_s": 7}, Outcome.RATE_LIMITED),
        ({"safety_ratio": 1.0}, Outcome.CONTENT_FILTERED),
        ({"retired": True}, Outcome.MODEL_UNAVAILABLE),
        ({"outage": "reset"}, Outcome.PROTOCOL_ERROR),
    ],
)
async def test_simulated_failures_are_classified(
    sim_config: Config, sim_url: str, behaviour: dict[str, object], outcome: Outcome
) -> None:
    set_behaviour(sim_url, TARGET, **behaviour)
    result = await probe(sim_config)
    assert result.outcome == outcome, result.error
    assert result.cost_usd == 0
    if outcome == Outcome.RATE_LIMITED:
        assert result.retry_after_s == 7


async def test_a_hung_provider_times_out_in_the_ttfb_phase(
    sim_config: Config, sim_url: str
) -> None:
    set_behaviour(sim_url, TARGET, outage="hang")
    cfg = sim_config.model_copy(deep=True)
    cfg.offerings[OFFERING] = cfg.offerings[OFFERING].model_copy(update={"timeout_seconds": 0.5})
    result = await probe(cfg)
    assert result.outcome == Outcome.TIMEOUT
    assert result.failed_phase == Phase.TTFB
    assert 0.5 <= result.phases[Phase.TOTAL] < 1.5


async def test_a_wrong_key_is_an_auth_error(sim_config: Config, monkeypatch) -> None:
    monkeypatch.setenv("LUMENFALL_API_KEY", "not-a-valid-key")
    result = await probe(sim_config)
    assert result.outcome == Outcome.AUTH_ERROR
    assert result.http_status == 401
    assert "not-a-valid-key" not in (result.error or "")


async def test_a_retired_model_fails_the_control_probe_as_unavailable(
    sim_config: Config, sim_url: str
) -> None:
    set_behaviour(sim_url, TARGET, retired=True)
    result = await probe(sim_config, Kind.CONTROL)
    assert result.outcome == Outcome.MODEL_UNAVAILABLE


async def test_an_unreachable_provider_is_a_connect_error(sim_config: Config) -> None:
    from monitor.config import point_at_simulator
    from monitor.servers import free_port

    cfg = point_at_simulator(sim_config, f"http://127.0.0.1:{free_port()}")
    cfg2 = cfg.model_copy(deep=True)
    cfg2.providers["lumenfall"] = cfg.providers["lumenfall"].model_copy(
        update={"base_url": f"http://127.0.0.1:{free_port()}/openai/v1"}
    )
    result = await probe(cfg2)
    assert result.outcome == Outcome.CONNECT_ERROR
