"""The backtest's worlds: five offerings of one model, each with a true state per minute."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from monitor.interfaces import Outcome

MODEL = "imagen-4.0-generate-001"
PROVIDERS = ("vertex", "gemini", "fal", "replicate", "lumenfall")
OFFERINGS = tuple(f"{p}/{MODEL}" for p in PROVIDERS)
MINUTES = 360
T0 = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, kw_only=True)
class Truth:
    """One offering's real condition during one minute."""

    price: Decimal = Decimal("0.04")
    success: float = 0.99
    failure: Outcome = Outcome.SERVER_ERROR
    p50_s: float = 8.0
    #: share of successful generations slower than the SLO
    slow: float = 0.005


@dataclass(frozen=True, kw_only=True)
class Event:
    start: int
    end: int
    provider: str
    change: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class Scenario:
    name: str
    events: tuple[Event, ...]
    base: dict[str, Truth]

    def truth(self, minute: int, offering: str) -> Truth:
        provider = offering.partition("/")[0]
        state = self.base[provider]
        for e in self.events:
            if e.provider == provider and e.start <= minute < e.end:
                state = replace(state, **e.change)
        return state


def _base(cheapest: str = "lumenfall", price: str = "0.036") -> dict[str, Truth]:
    speeds = {"vertex": 7.0, "gemini": 9.0, "fal": 6.0, "replicate": 10.0, "lumenfall": 8.0}
    return {
        p: Truth(p50_s=speeds[p], price=Decimal(price) if p == cheapest else Decimal("0.04"))
        for p in PROVIDERS
    }


def scenarios() -> list[Scenario]:
    down = {"success": 0.0, "failure": Outcome.CONNECT_ERROR}
    slow = {"success": 0.9, "failure": Outcome.TIMEOUT, "p50_s": 40.0, "slow": 0.35}
    return [
        Scenario(
            name="price_changes",
            base=_base(),
            events=(
                Event(
                    start=90, end=MINUTES, provider="lumenfall", change={"price": Decimal("0.046")}
                ),
                Event(start=210, end=300, provider="fal", change={"price": Decimal("0.034")}),
                Event(start=300, end=MINUTES, provider="fal", change={"price": Decimal("0.042")}),
            ),
        ),
        Scenario(
            name="outages",
            base=_base(),
            events=(
                Event(start=60, end=150, provider="lumenfall", change=down),
                Event(start=200, end=230, provider="vertex", change=down),
                Event(start=250, end=256, provider="lumenfall", change=down),
            ),
        ),
        Scenario(
            name="degradation",
            base=_base(),
            events=(Event(start=90, end=210, provider="lumenfall", change=slow),),
        ),
        Scenario(
            name="rate_limit_storm",
            base=_base(),
            events=(
                Event(
                    start=100,
                    end=180,
                    provider="lumenfall",
                    change={"success": 0.55, "failure": Outcome.RATE_LIMITED},
                ),
                Event(
                    start=240,
                    end=270,
                    provider="vertex",
                    change={"success": 0.7, "failure": Outcome.RATE_LIMITED},
                ),
            ),
        ),
        Scenario(
            # a 3 % price gap inside the 5 % margin and 3 % errors everywhere: no flapping
            name="noise",
            base={p: replace(t, success=0.97) for p, t in _base(price="0.0388").items()},
            events=(),
        ),
    ]
