"""A stand-in provmon agent for tests/test_budget_agents.py: reserves paid probes against a
shared database, as the runner does, and reports every reservation it was granted.

    python tests/budget_agent.py DB_URL AGENT race N   # reserve N times, settle each
    python tests/budget_agent.py DB_URL AGENT hang     # reserve once, never settle

``race`` prints ``ready`` and waits for a line on stdin, so that both agents start
together; then one JSON line per granted reservation: {"id", "amount", "billed"}.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
import time
from decimal import Decimal

from monitor.budget import Budget, BudgetPolicy
from monitor.store import Store

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
OFFERING = "fal/imagen-4.0-generate-001"
CAP = Decimal("0.50")
AMOUNTS = (Decimal("0.03"), Decimal("0.04"), Decimal("0.05"))


def main(argv: list[str]) -> int:
    url, agent, mode = argv[0], argv[1], argv[2]
    store = Store(url)
    policy = BudgetPolicy(daily_usd=CAP, confirm_share=Decimal(0), expiry_s=240.0)
    budget = Budget(policy, store, [OFFERING])
    rng = random.Random(agent)
    if mode == "hang":
        reservation = budget.reserve(OFFERING, "fal", Decimal("0.04"), agent, NOW)
        assert reservation is not None
        print(json.dumps({"id": reservation.reservation_id, "amount": "0.04"}), flush=True)
        time.sleep(3600)  # "mid-probe": the test kills us here
        return 1
    count = int(argv[3])
    store.check()  # connect before the start signal
    print("ready", flush=True)
    sys.stdin.readline()
    for _ in range(count):
        amount = rng.choice(AMOUNTS)
        reservation = budget.reserve(OFFERING, "fal", amount, agent, NOW)
        if reservation is None:
            continue
        time.sleep(rng.uniform(0.002, 0.02))  # the probe
        billed = rng.random() < 0.7
        budget.settle(reservation, billed=billed, now=NOW)
        line = {"id": reservation.reservation_id, "amount": str(amount), "billed": billed}
        print(json.dumps(line), flush=True)
    store.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
