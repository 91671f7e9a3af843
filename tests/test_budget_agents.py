"""Two agent processes share one database and one budget (tests/budget_agent.py).

They reserve concurrently against a tight cap and must never overspend by a cent; an agent
killed with SIGKILL between reserve and settle loses no reservation: it keeps counting.
Runs on a real PostgreSQL (the multi-agent deployment) and on one SQLite file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from monitor.budget import Budget, BudgetPolicy, to_micro
from monitor.store import Store

AGENT = Path(__file__).with_name("budget_agent.py")
ROOT = AGENT.parent.parent
sys.path.insert(0, str(AGENT.parent))
from budget_agent import CAP, NOW, OFFERING  # noqa: E402


def start_agent(url: str, name: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(AGENT), url, name, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def granted(proc: subprocess.Popen[str]) -> list[dict[str, Any]]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_two_agents_racing_never_overspend_by_a_cent(store: Store, db_url: str) -> None:
    agents = [start_agent(db_url, f"agent-{n}", "race", "60") for n in (1, 2)]
    for proc in agents:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in agents:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    lines = [granted(proc) for proc in agents]
    assert all(lines), "each agent got some of the budget"
    kept = [line for ls in lines for line in ls if line["billed"]]
    spent = store.spend_by_offering(NOW.date()).get(OFFERING, 0)
    assert spent == sum(to_micro(Decimal(line["amount"])) for line in kept)
    assert spent <= to_micro(CAP)
    assert spent > to_micro(CAP) - to_micro(Decimal("0.05"))  # they did fill it
    rows = store.spend_rows(NOW.date())
    assert {r.agent for r in rows} == {"agent-1", "agent-2"}
    assert all(r.state in ("settled", "released") for r in rows)
    assert len(rows) == sum(len(ls) for ls in lines)


def test_an_agent_killed_mid_probe_loses_no_reservation(store: Store, db_url: str) -> None:
    proc = start_agent(db_url, "doomed", "hang")
    assert proc.stdout is not None
    line = json.loads(proc.stdout.readline())  # reserved, now "sending the probe"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    proc.communicate()
    [row] = store.spend_rows(NOW.date())
    assert row.reservation_id == line["id"] and row.state == "reserved"
    # the survivor can only have what the dead agent did not reserve
    policy = BudgetPolicy(daily_usd=CAP, confirm_share=Decimal(0), expiry_s=240.0)
    budget = Budget(policy, store, [OFFERING])
    got = 0
    while budget.reserve(OFFERING, "fal", Decimal("0.02"), "survivor", NOW) is not None:
        got += 1
    assert got == (CAP - Decimal("0.04")) / Decimal("0.02")
    assert store.spend_by_offering(NOW.date())[OFFERING] == to_micro(CAP)
