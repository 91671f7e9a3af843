"""More of the fault matrix: async jobs that never finish, the clock jumping, and a config
with every kind of mistake at once. Real sockets: the simulator on loopback."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from monitor.budget import Budget, BudgetPolicy
from monitor.config import Config
from monitor.interfaces import Kind, Outcome, Phase
from monitor.probe_context import ProbeContext
from monitor.runner import Runner
from monitor.store import Store
from tests.conftest import set_behaviour

NEVER = {"queue": {"fixed": 0.0}, "inference": {"fixed": 3600.0}}


def with_timeout(config: Config, seconds: float) -> Config:
    data = config.model_dump(mode="json")
    data["defaults"]["timeout_seconds"] = seconds
    return Config.model_validate(data)


async def run(config: Config, offering: str, kind: Kind = Kind.GENERATE):  # type: ignore[no-untyped-def]
    runner = Runner(config)
    try:
        return await runner.run_probe(offering, kind)
    finally:
        await runner.aclose()


async def test_a_fal_job_that_never_finishes_times_out_and_is_cancelled(
    sim_config: Config, sim_url: str
) -> None:
    set_behaviour(sim_url, "fal:fal-ai/imagen4/preview", latency=NEVER)
    began = time.monotonic()
    result = await run(with_timeout(sim_config, 1.5), "fal/imagen-4.0-generate-001")
    assert result.outcome == Outcome.TIMEOUT
    assert result.failed_phase == Phase.INFERENCE  # it stayed IN_PROGRESS
    assert time.monotonic() - began < 1.5 + 5, "the deadline (plus the cancel) bounds it"
    assert result.cost_usd == 0
    # the simulated fal saw the cancel: the request now reads back as cancelled
    status = httpx.get(  # noqa: ASYNC210 (the probe is over; nothing else runs)
        f"{sim_url}/fal/queue/fal-ai/imagen4/requests/{result.provider_request_id}/status",
        headers={"Authorization": "Key sim-fal-key"},
    ).json()
    assert status["status"] == "COMPLETED" and status["error_type"] == "request_cancelled"


async def test_a_replicate_prediction_that_never_finishes_times_out_and_is_cancelled(
    sim_config: Config, sim_url: str
) -> None:
    set_behaviour(sim_url, "replicate:google/imagen-4", latency=NEVER)
    result = await run(with_timeout(sim_config, 3.5), "replicate/imagen-4.0-generate-001")
    assert result.outcome == Outcome.TIMEOUT
    assert result.failed_phase == Phase.INFERENCE
    prediction = httpx.get(  # noqa: ASYNC210
        f"{sim_url}/replicate/v1/predictions/{result.provider_request_id}",
        headers={"Authorization": "Bearer sim-replicate-token"},
    ).json()
    assert prediction["status"] == "canceled"


# -- the clock jumping ------------------------------------------------------------------


@pytest.mark.parametrize(
    "jump_s", [-3600.0, 86_400.0], ids=["wall_clock_back_1h", "wall_clock_ahead_1d"]
)
async def test_a_wall_clock_jump_during_a_probe_does_not_bend_its_durations(
    sim_config: Config, jump_s: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Phases are timed on the monotonic clock: the wall clock jumping mid-probe (NTP step,
    VM resume) changes neither their sign nor their size."""
    real_time, real_now = time.time, dt.datetime.now
    calls = {"n": 0}

    def jumped_time() -> float:
        return real_time() + jump_s

    def now() -> dt.datetime:
        calls["n"] += 1
        return real_now(dt.UTC) + dt.timedelta(seconds=jump_s if calls["n"] > 1 else 0)

    monkeypatch.setattr(time, "time", jumped_time)
    runner = Runner(sim_config, now=now)
    assert runner.clock in (time.perf_counter, time.monotonic)
    assert ProbeContext.__dataclass_fields__["clock"].default in (time.perf_counter, time.monotonic)
    try:
        result = await runner.run_probe("fal/imagen-4.0-generate-001", Kind.GENERATE)
    finally:
        await runner.aclose()
    assert result.outcome == Outcome.OK, result.error
    assert all(0 <= seconds < 30 for seconds in result.phases.values()), result.phases
    assert result.phases[Phase.TOTAL] >= result.phases[Phase.TTFB]


def test_the_budget_day_rolls_at_utc_midnight_and_a_clock_going_back_keeps_the_old_day(
    tmp_path: Path,
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'budget.db'}")
    store.upgrade()
    offering, price = "fal/imagen-4.0-generate-001", Decimal("0.04")
    budget = Budget(
        BudgetPolicy(offering_daily_usd=Decimal("0.08"), confirm_share=Decimal(0)),
        store,
        [offering],
    )
    before = dt.datetime(2026, 5, 1, 23, 59, 58, tzinfo=dt.UTC)
    after = dt.datetime(2026, 5, 2, 0, 0, 1, tzinfo=dt.UTC)
    try:
        assert budget.reserve(offering, "fal", price, "a", before) is not None
        assert budget.reserve(offering, "fal", price, "a", before) is not None
        assert budget.reserve(offering, "fal", price, "a", before) is None  # the day is spent
        assert budget.reserve(offering, "fal", price, "a", after) is not None  # a new day
        assert budget.spent_usd(offering) == price
        # the wall clock steps back over midnight: the old day is still spent
        back = before + dt.timedelta(seconds=1)
        assert budget.reserve(offering, "fal", price, "a", back) is None
        assert store.spend_by_offering(before.date()) == {offering: 80_000}
        assert store.spend_by_offering(after.date()) == {offering: 40_000}
    finally:
        store.dispose()


# -- a config with every kind of mistake ----------------------------------------------------

EVERY_MISTAKE = """\
vantage: "Bad Vantage"
colour: blue
defaults:
  timeout_seconds: -5
  control: {interval_seconds: 0}
models:
  m1: {family: x, nickname: y}
providers:
  p1:
    protocol: carrier-pigeon
    base_url: ftp://nowhere
    credential_env: sk-live-0123456789abcdef
offerings:
  p1/m1:
    provider_model: m1
    expect: {width: 0, height: 1024}
pricing_sources:
  s1: {kind: tea_leaves, url: gopher://x}
"""
#: every key above that is wrong, as check-config must name it
NAMED = [
    "vantage:",
    "colour: unknown key",
    "defaults.timeout_seconds:",
    "defaults.control.interval_seconds:",
    "models.m1.nickname: unknown key",
    "providers.p1.protocol: unknown protocol",
    "providers.p1.base_url:",
    "providers.p1.credential_env:",
    "offerings.p1/m1.expect.width:",
    "pricing_sources.s1.kind: unknown source kind",
    "pricing_sources.s1.url:",
]
#: mistakes that only show once the keys resolve (which provider, model, source)
CROSS_REFERENCES = """\
  p9/m1:
    provider_model: m1
    expect: {width: 1024, height: 1024}
    pricing_sources: [nowhere]
budget:
  per_offering_usd: {x/y: 1}
"""


def check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_config_with_every_kind_of_mistake_names_each_bad_key_on_one_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(EVERY_MISTAKE, encoding="utf-8")
    proc = check_config(path)
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("provmon: error: invalid config")
    missing = [key for key in NAMED if key not in line]
    assert not missing, f"not reported: {missing}\n{line}"
    assert "sk-live-0123456789abcdef" not in line


def test_cross_reference_mistakes_are_reported_beside_field_mistakes(tmp_path: Path) -> None:
    text = EVERY_MISTAKE.replace(
        "pricing_sources:\n  s1", CROSS_REFERENCES.split("budget")[0] + "pricing_sources:\n  s1"
    )
    text += "budget:\n  per_offering_usd: {x/y: 1}\n"
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    line = check_config(path).stderr
    for key in [
        *NAMED,
        "offerings.p9/m1: unknown provider",
        "offerings.p9/m1.pricing_sources",
        "budget.per_offering_usd.x/y",
    ]:
        assert key in line, key
