"""Hostile clients of provmon's API and of the simulator's control API, over real sockets:
oversized, non-finite, unauthenticated and poisoning requests, and a property test feeding
arbitrary JSON to every POST endpoint (no 500, a bounded answer, no change without the
token)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.catalogs import load_catalog
from monitor.config import Config, point_at_simulator
from monitor.servers import ThreadedServer
from monitor.service import Service
from monitor.sim.app import build_app
from monitor.web import build_api

FAL = "fal/imagen-4.0-generate-001"
PASSIVE_ENV = "PROVMON_FAULTS_PASSIVE_TOKEN"
PASSIVE = "faults-passive-token"
SIM_TOKEN = "faults-sim-token"
#: no error answer may carry more than this back
MAX_ANSWER = 16 * 1024


@dataclass
class Served:
    url: str
    service: Service = field(repr=False)
    sim_url: str
    sim_state: Any = field(repr=False)

    def states(self) -> dict[Any, Any]:
        return dict(self.service.health.states)

    def sim_snapshot(self) -> tuple[Any, ...]:
        state = self.sim_state
        overrides = {k: v.model_dump(exclude_unset=True) for k, v in state.overrides.items()}
        return overrides, state.scenario.model_dump(mode="json")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PASSIVE_ENV, PASSIVE)
        base = load_catalog("imagen4")
        # nothing is probed (the service is not started): the URL is never dialled
        data = point_at_simulator(base, "http://127.0.0.1:9").model_dump(mode="json")
        data["passive"] = {"token_env": PASSIVE_ENV}
        config = Config.model_validate(data)
        folder: Path = tmp_path_factory.mktemp("hostile")
        service = Service(config, f"sqlite:///{folder / 'provmon.db'}")
        service.store.upgrade()
        api = ThreadedServer(build_api(service))
        sim_app = build_app(control_enabled=True, control_token=SIM_TOKEN)
        sim = ThreadedServer(sim_app)
        api.start()
        sim.start()
        try:
            yield Served(api.url, service, sim.url, sim_app.state.sim.state)
        finally:
            api.stop()
            sim.stop()
            service.store.dispose()


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def one_sample(latency: str = "1.0") -> bytes:
    return (
        f'{{"samples": [{{"offering": "{FAL}", "outcome": "server_error", '
        f'"latency_s": {latency}, "at": "{now_iso()}"}}]}}'
    ).encode()


AUTH = {"Authorization": f"Bearer {PASSIVE}"}
CASES = [
    # name, headers, body, expected status
    ("unauthenticated, 20 MB", {}, b"[" * 20_000_000, 401),
    ("wrong token, valid batch", {"Authorization": "Bearer nope"}, one_sample(), 401),
    ("oversized with the token", AUTH, b" " * (600 * 1024), 413),
    ("NaN", AUTH, one_sample("NaN"), 422),
    ("Infinity", AUTH, one_sample("Infinity"), 422),
    ("-Infinity", AUTH, one_sample("-Infinity"), 422),
    ("1e999 overflows to infinity", AUTH, one_sample("1e999"), 422),
    ("nesting deeper than the parser", AUTH, b"[" * 100_000 + b"]" * 100_000, 422),
    ("not UTF-8", AUTH, b'{"samples": "\xff\xfe"}', 422),
    ("empty body", AUTH, b"", 422),
    ("a JSON string", AUTH, b'"samples"', 422),
    ("1000 unknown offerings", AUTH, b"", 422),
]


@pytest.mark.parametrize(("name", "headers", "body", "status"), CASES, ids=[c[0] for c in CASES])
def test_hostile_samples_requests_are_refused_cleanly(
    served: Served, name: str, headers: dict[str, str], body: bytes, status: int
) -> None:
    if name == "1000 unknown offerings":
        sample = {"offering": "x/" + "y" * 190, "outcome": "ok", "at": now_iso()}
        body = json.dumps({"samples": [sample] * 1000}).encode()
    before = served.states()
    response = httpx.post(
        f"{served.url}/api/samples",
        content=body,
        headers={**headers, "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == status, response.text[:300]
    assert len(response.content) <= MAX_ANSWER
    assert "yyyy" not in response.text and "Traceback" not in response.text
    assert served.states() == before


def test_a_poisoning_batch_makes_a_suspicion_not_an_outage(served: Served) -> None:
    sample = {"offering": FAL, "outcome": "server_error", "latency_s": 1.0, "at": now_iso()}
    response = httpx.post(
        f"{served.url}/api/samples", json={"samples": [sample] * 1000}, headers=AUTH
    )
    assert response.status_code == 202
    [row] = [r for r in httpx.get(f"{served.url}/api/state").json() if r["offering"] == FAL]
    assert row["state"] != "down" and row["passive"]["unconfirmed"]
    assert row["passive"]["failing_minutes"] == 1
    page = httpx.get(f"{served.url}/").text
    assert "passive samples report failures in 1 minute(s), awaiting a probe" in page


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"target": "nosuchprovider:x", "outage": "error"}, 422, "names no simulated provider"),
        ({"target": "openai", "outage": "error"}, 422, "'fake:model' pattern"),
        ({"outage": "error"}, 422, "'fake:model' pattern"),
        ({"target": "openai:*", "outage": "meltdown"}, 422, "outage"),
        ({"target": "openai:*", "error_ratio": "lots"}, 422, "error_ratio"),
        ({"target": "fal:*", "error_ratio": 0.0}, 200, "fal:*"),
        ({"target": "*", "error_ratio": 0.0}, 200, '"target":"*"'),
    ],
)
def test_the_simulator_refuses_behaviour_it_cannot_apply(
    served: Served, body: dict[str, Any], status: int, needle: str
) -> None:
    response = httpx.post(
        f"{served.sim_url}/_sim/behaviour",
        json=body,
        headers={"Authorization": f"Bearer {SIM_TOKEN}"},
    )
    assert response.status_code == status and needle in response.text
    assert "Traceback" not in response.text and "pydantic" not in response.text
    assert "input_value" not in response.text and "meltdown" not in response.text


# -- the property: arbitrary JSON to every POST endpoint ----------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=30,
)
SAMPLE = st.fixed_dictionaries(
    {
        "offering": st.sampled_from([FAL, "x/y", ""]) | st.text(max_size=20),
        "outcome": st.sampled_from(["ok", "server_error", "rate_limited", "boom"]),
        "at": st.sampled_from([now_iso(), "2026-01-01T00:00:00", "yesterday"]),
    },
    optional={
        "latency_s": st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=5),
        "vantage": st.text(max_size=10),
    },
)
BODIES = JSON | st.fixed_dictionaries({"samples": st.lists(SAMPLE | JSON, max_size=6)})


def post_endpoints(served: Served) -> list[tuple[str, dict[str, str], str]]:
    """(URL, valid auth header, which state) for every POST route of both apps."""
    # the API's own description lists its endpoints, included routers and all
    paths = httpx.get(f"{served.url}/openapi.json").json()["paths"]
    out = [(served.url + path, AUTH, "api") for path, ops in paths.items() if "post" in ops]
    sim_auth = {"Authorization": f"Bearer {SIM_TOKEN}"}
    out += [(f"{served.sim_url}/_sim/behaviour", sim_auth, "sim")]
    out += [(f"{served.sim_url}/_sim/scenario", sim_auth, "sim")]
    return out


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=BODIES, who=st.sampled_from(["none", "wrong", "valid"]))
def test_arbitrary_json_to_every_post_endpoint(served: Served, body: Any, who: str) -> None:
    endpoints = post_endpoints(served)
    assert any(url.endswith("/api/samples") for url, _, _ in endpoints)
    text = json.dumps(body)  # NaN and Infinity as Python writes them: not JSON
    for url, auth, which in endpoints:
        headers = {"Content-Type": "application/json"}
        if who == "valid":
            headers.update(auth)
        elif who == "wrong":
            headers["Authorization"] = "Bearer not-the-token"
        api_before, sim_before = served.states(), served.sim_snapshot()
        response = httpx.post(url, content=text, headers=headers, timeout=30)
        assert response.status_code < 500, (url, response.text[:300])
        assert len(response.content) <= MAX_ANSWER, url
        if who != "valid":
            assert response.status_code in (401, 503), url
            assert served.states() == api_before and served.sim_snapshot() == sim_before
    # leave the simulator as the next example expects it
    served.sim_state.clear_overrides()


def test_the_api_docs_page_works_offline(served: Served) -> None:
    page = httpx.get(f"{served.url}/api/docs")
    assert page.status_code == 200
    assert "<script" not in page.text and "cdn" not in page.text.lower()
    assert "href='/openapi.json'" in page.text and "/api/samples" in page.text
    assert httpx.get(f"{served.url}/openapi.json").json()["paths"]
