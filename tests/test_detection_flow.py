"""Issue 17 in the running service, over real sockets: a slow offering is watched for the
end of its slowdown with paid probes from the recover purpose, so it comes back even when
its regular money for the day is spent (before, the watch drew on the regular share and
stopped at it, leaving the offering degraded until midnight). SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from monitor.config import Config
from tests.conftest import sample, set_behaviour
from tests.test_flows import FAL, FAST, flow_config, metrics_of, serving, state_of, until

FAL_TARGET = "fal:fal-ai/imagen4/preview"
#: a slowdown: fal's answers take 2 s against a 1 s latency objective
SLOW = {"latency": {"ttfb": {"fixed": 0.01}, "inference": {"fixed": 2.0}, "queue": {"fixed": 0.05}}}
PRICE = Decimal("0.04")
#: twelve probes a day; regular probes leave the confirm slice ($0.144) of it
CAP = Decimal("0.48")


async def spent(api: httpx.AsyncClient) -> float:
    return sample(await metrics_of(api), "provmon_probe_spend_usd_total", offering=FAL)


async def test_a_slow_offering_is_probed_for_its_recovery_and_comes_back(
    sim_config: Config, sim_url: str, db_url: str
) -> None:
    set_behaviour(sim_url, "*", **FAST)
    set_behaviour(sim_url, FAL_TARGET, **SLOW)
    config = flow_config(
        sim_config,
        offerings=(FAL,),
        generate_every=1.0,
        budget={"daily_usd": None, "offering_daily_usd": "200", "per_offering_usd": {FAL: CAP}},
        health={"latency_objective_seconds": 1.0},
    )
    async with serving(config, db_url, schedule=True) as (_service, api):

        async def degraded() -> dict[str, Any] | None:
            row = await state_of(api, FAL)
            return row if row["state"] == "degraded" else None

        row = await until(degraded, 45)
        assert "slow" in row["reason"]
        # still slow: the watch goes on past what regular probes may spend (they leave
        # the confirm slice, $0.144 at midnight, less as the UTC day runs out), leaving
        # three probes for the slow ones still running when the slowdown ends below
        await until(lambda: _at_least(api, float(CAP - 3 * PRICE)), 90)
        assert (await state_of(api, FAL))["state"] == "degraded"

        # the slowdown ends: the next paid probe is fast and ends it
        set_behaviour(sim_url, FAL_TARGET, **FAST)

        async def up() -> dict[str, Any] | None:
            row = await state_of(api, FAL)
            return row if row["state"] == "up" else None

        await until(up, 30)
        assert await spent(api) <= float(CAP)
        metrics = await metrics_of(api)
        assert sample(metrics, "provmon_probe_budget_remaining_usd", scope=FAL) >= 0


async def _at_least(api: httpx.AsyncClient, usd: float) -> bool:
    return await spent(api) >= usd - 1e-9
