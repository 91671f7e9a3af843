"""Two real agent processes of one vantage on a real PostgreSQL split the offerings by
lease; one is killed (SIGKILL) and the survivor takes its offerings over within 60 s;
no (offering, slot) is probed twice, in the store or in what the agents report."""

from __future__ import annotations

import math
import re
import signal
import time
from collections import Counter
from typing import Any

import httpx

from bench._agent import AgentProcess, offering_key
from tests.conftest import fresh_postgres_schema, postgres_url

OFFERINGS = 40
INTERVAL = 4.0
TTL = 5.0
ARGS = [
    *("--offerings", str(OFFERINGS), "--interval", str(INTERVAL)),
    *("--shards", "8", "--lease-ttl", str(TTL), "--renew", "1", "--events"),
]


def start_agent(db_url: str, sim_url: str) -> AgentProcess:
    return AgentProcess(["--db", db_url, "--sim", sim_url, *ARGS])


def states_in(metrics_url: str) -> set[str]:
    """The offerings with a ``provmon_offering_state`` series in one scrape."""
    text = httpx.get(metrics_url, timeout=60).text
    return set(re.findall(r'^provmon_offering_state\{[^}]*offering="([^"]+)"', text, re.M))


def wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout:.0f}s: {what}")


def test_two_agents_split_the_offerings_and_the_survivor_takes_over(sim_url: str) -> None:
    from monitor.store import Store

    url = postgres_url()
    assert url is not None
    db_url = fresh_postgres_schema(url)
    store = Store(db_url)
    store.upgrade()  # once, before two agents would race to migrate the same schema
    everything = {offering_key(i, 1) for i in range(OFFERINGS)}
    first = start_agent(db_url, sim_url)
    second: AgentProcess | None = None
    try:
        assert first.ready.wait(90), "the first agent did not start"
        wait_for(lambda: first.probed(0) == everything, 30, "the lone agent probes everything")
        second = start_agent(db_url, sim_url)
        assert second.ready.wait(90), "the second agent did not start"

        def split() -> tuple[set[str], set[str]] | None:
            # the last two intervals: each offering probed by exactly one of them
            since = time.time() - 2 * INTERVAL
            a, b = first.probed(since), second.probed(since) if second else set()
            return (a, b) if a and b and not a & b and a | b == everything else None

        mine, theirs = wait_for(split, 60, "the two agents split the offerings")
        assert len(mine) < OFFERINGS and len(theirs) < OFFERINGS
        # each exports the state of the offerings it probes, not a stale view of the rest
        assert states_in(second.metrics_url) == theirs

        first.proc.send_signal(signal.SIGKILL)
        killed = time.time()
        first.proc.wait(timeout=10)

        def taken_over() -> float | None:
            after = [e for e in list(second.events) if e["t"] > killed and e["o"] in mine]
            if {e["o"] for e in after} != mine:
                return None
            firsts: dict[str, float] = {}
            for e in after:
                firsts[e["o"]] = min(firsts.get(e["o"], math.inf), e["t"])
            return max(firsts.values()) - killed

        took = wait_for(taken_over, 75, "the survivor probes every offering of the dead one")
        assert took <= 60, f"takeover took {took:.1f}s"
        # and goes on probing everything, once per slot
        resumed = time.time()
        wait_for(lambda: second.probed(resumed) == everything, 20, "the survivor probes all")
        second.stop()
    finally:
        first.kill()
        if second is not None:
            second.stop()

    rows = store.recent_results(limit=100_000)
    store.dispose()
    assert rows, "nothing reached the store"
    # no slot twice: the stored rows and what the killed agent reported (its last results
    # may have died in its buffer) together
    seen = {r.probe_id: (r.offering, r.started_at.timestamp()) for r in rows}
    for agent in (first, second):
        seen.update({e["id"]: (e["o"], e["t"]) for e in agent.events})
    slots = Counter((o, math.floor(t / INTERVAL)) for o, t in seen.values())
    twice = {slot: n for slot, n in slots.items() if n > 1}
    who = {e["id"]: name for name, a in (("first", first), ("second", second)) for e in a.events}
    detail = [
        (o, round(t, 3), who.get(pid, "store"))
        for pid, (o, t) in seen.items()
        if (o, math.floor(t / INTERVAL)) in twice
    ]
    assert not twice, f"probed twice in one slot: {sorted(detail)[:10]}; killed at {killed:.3f}"
    assert {o for o, _ in seen.values()} == everything
