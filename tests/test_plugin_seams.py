"""The plugin seams: a protocol registered in a test alone is served, probed and exported.

``Dummy`` is a made-up wire protocol, registered here only (``PROBES`` and ``FAKES``
monkeypatched): with no other edit, the simulator serves its fake, the protocol contract
(tests/probes/test_contract.py) runs on it, and the LiteLLM, OpenRouter and Portkey exports
route to it. Its answers take the OpenAI Images API's shapes (``{"data": [{"url"}]}``, the
``{"error": {message, type, code}}`` envelope; platform.openai.com/docs/api-reference/images).
Also here: no per-protocol tables left where the registries answer, and no import cycles.
"""

from __future__ import annotations

import ast
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as StarletteRoute

from monitor.config import parse_config
from monitor.exports import (
    FORMATS,
    litellm_config,
    openrouter_config,
    portkey_config,
    targets_from_config,
)
from monitor.health import State
from monitor.http import status_outcome
from monitor.interfaces import GatewayNames, Kind, Outcome, ProbeFailure
from monitor.probe_context import ProbeContext
from monitor.routing import OfferingView, PolicyName, RoutingEngine, Snapshot
from monitor.servers import ThreadedServer
from monitor.sim._common import Sim, apply_transport_fault, wait
from monitor.sim.app import FAKES, Fake, build_app
from monitor.sim.scenario import Fault, Scenario
from monitor.windows import WindowStats
from probes import PROBES
from tests.probes.test_contract import (
    OUTCOMES,
    Case,
    case_for,
    catalog_data,
    check_declarations,
    run_outcome,
)

ROOT = Path(__file__).resolve().parents[1]
MODEL = "imagen-4.0-generate-001"
OFFERING = f"dummy/{MODEL}"
KEY = "sim-dummy-key"


# -- the protocol: a probe class and its fake, both only in this test ----------------------


class DummyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _fail(response: httpx.Response) -> ProbeFailure:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    code = error.get("code") if isinstance(error, dict) else None
    outcome = (
        Outcome.CONTENT_FILTERED
        if code == "moderation_blocked"
        else status_outcome(response.status_code)
    )
    retry = response.headers.get("retry-after")
    return ProbeFailure(
        outcome,
        f"HTTP {response.status_code} {code}",
        http_status=response.status_code,
        retry_after_s=float(retry) if retry else None,
    )


class DummyProbe:
    Options: ClassVar[type[BaseModel]] = DummyOptions
    gateways: ClassVar[GatewayNames] = GatewayNames(
        litellm="dummy_ai", openrouter="dummy-cloud", portkey="dummy"
    )
    fake: ClassVar[str] = "dummy"

    def _headers(self, ctx: ProbeContext) -> dict[str, str]:
        return {"Authorization": f"Bearer {ctx.secret}"} if ctx.secret else {}

    async def generate(self, ctx: ProbeContext) -> bytes:
        body = {"model": ctx.provider_model, "prompt": ctx.prompt, **ctx.params}
        url = f"{ctx.base_url}/images/generations"
        response = await ctx.send("POST", url, json=body, headers=self._headers(ctx))
        if response.status_code != 200:
            raise _fail(response)
        data = ctx.json_body(response).get("data")
        if not isinstance(data, list) or not data or "url" not in data[0]:
            raise ProbeFailure(Outcome.PROTOCOL_ERROR, "no data[0].url in the answer")
        return await ctx.download(str(data[0]["url"]))

    async def control(self, ctx: ProbeContext) -> None:
        url = f"{ctx.base_url}/models/{ctx.provider_model}"
        response = await ctx.send("GET", url, headers=self._headers(ctx))
        if response.status_code != 200:
            raise _fail(response)


def _error(status: int, message: str, code: str, **headers: str) -> JSONResponse:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def dummy_routes(sim: Sim) -> list[StarletteRoute]:
    async def answer(request: Request, model: str, *, control: bool) -> Response | None:
        given = request.headers.get("authorization", "").removeprefix("Bearer ")
        if not sim.state.key_ok("dummy", given):
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        if model != MODEL:
            return _error(404, f"The model '{model}' does not exist.", "model_not_found")
        decision = sim.state.decide("dummy", model, control=control)
        await wait(decision.latency.get("ttfb", 0) + decision.latency.get("inference", 0))
        if (broken := await apply_transport_fault(decision, request)) is not None:
            return broken
        if decision.fault == Fault.RETIRED:
            return _error(404, f"The model '{model}' does not exist.", "model_not_found")
        if decision.fault == Fault.RATE_LIMITED:
            retry = str(decision.retry_after_s)
            return _error(
                429, "Rate limit reached.", "rate_limit_exceeded", **{"retry-after": retry}
            )
        if decision.fault in (Fault.SERVER_ERROR, Fault.UNAVAILABLE):
            return _error(decision.status, "The server had an error.", "server_error")
        if decision.fault == Fault.SAFETY:
            return _error(400, "Rejected by the safety system.", "moderation_blocked")
        return None

    async def generate(request: Request) -> Response:
        body = await request.json()
        if not str(body.get("prompt", "")).strip():
            return _error(400, "'prompt' is a required string.", "missing_required_parameter")
        failed = await answer(request, str(body.get("model")), control=False)
        if failed is not None:
            return failed
        url = sim.file_url(request, 1024, 1024, "png")
        return JSONResponse({"created": 0, "data": [{"url": url}]})

    async def get_model(request: Request) -> Response:
        model = request.path_params["model"]
        failed = await answer(request, model, control=True)
        return failed or JSONResponse({"id": model, "object": "model", "owned_by": "dummy"})

    return [
        StarletteRoute("/dummy/v1/images/generations", generate, methods=["POST"]),
        StarletteRoute("/dummy/v1/models/{model:path}", get_model, methods=["GET"]),
    ]


def dummy_catalog() -> dict[str, Any]:
    """The default catalog plus one provider and offering of the dummy protocol."""
    data = catalog_data()
    data["providers"]["dummy"] = {
        "protocol": "dummy",
        "base_url": "https://api.dummy.example/v1",
        "credential_env": "DUMMY_API_KEY",
        "simulated": {"base_url": "${SIM}/dummy/v1", "env": {"DUMMY_API_KEY": KEY}},
    }
    data["offerings"][OFFERING] = {
        "provider_model": MODEL,
        "expect": {"width": 1024, "height": 1024},
        "listed_price_usd": "0.03",
    }
    return data


@pytest.fixture(scope="module")
def dummy_sim() -> Iterator[str]:
    """The simulator built while the dummy protocol and its fake are registered."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(PROBES, "dummy", DummyProbe)
        patch.setitem(FAKES, "dummy", Fake(routes=dummy_routes, prefixes={"dummy": "/dummy/v1"}))
        app = build_app(Scenario(keys={"dummy": [KEY]}), control_enabled=True)
        server = ThreadedServer(app, "127.0.0.1", 0)
        server.start()
        try:
            yield server.url
        finally:
            server.stop()


@pytest.fixture()
def dummy_url(dummy_sim: str) -> Iterator[str]:
    httpx.delete(f"{dummy_sim}/_sim/behaviour")
    yield dummy_sim
    httpx.delete(f"{dummy_sim}/_sim/behaviour")


@pytest.fixture()
def dummy_case(dummy_url: str) -> Case:
    return case_for("dummy", dummy_catalog())


# -- the Done-when tests -------------------------------------------------------------------


def test_the_simulator_serves_a_protocol_registered_in_a_test(dummy_url: str) -> None:
    index = httpx.get(dummy_url + "/").json()
    assert index["protocols"]["dummy"] == "/dummy/v1"
    check_declarations("dummy", dummy_url)
    answer = httpx.get(f"{dummy_url}/dummy/v1/models/{MODEL}", headers={"Authorization": "x"})
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize(("outcome", "kind"), OUTCOMES, ids=lambda v: str(v))
async def test_the_contract_runs_a_protocol_registered_in_a_test(
    dummy_case: Case,
    dummy_url: str,
    outcome: Outcome,
    kind: Kind,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert dummy_case.offering == OFFERING
    await run_outcome(dummy_case, outcome, kind, dummy_url, monkeypatch)


def test_all_three_gateway_exports_include_a_protocol_registered_in_a_test(
    dummy_url: str,
) -> None:
    config = parse_config(dummy_catalog())
    views = [
        OfferingView(
            offering=key,
            provider=config.provider_of(key),
            model=key.partition("/")[2],
            state=State.UP,
            price_usd=entry.listed_price_usd,
            windows={
                "30m": WindowStats(
                    offering=key, window="30m", successes=30, errors=0, p50_s=5.0, p95_s=8.0
                )
            },
        )
        for key, entry in config.offerings.items()
    ]
    engine = RoutingEngine()
    engine.evaluate(Snapshot(at=dt.datetime(2026, 5, 1, tzinfo=dt.UTC), offerings=tuple(views)))
    routes = engine.routes(policy=PolicyName.COST, model=MODEL)
    assert OFFERING in {e.offering for e in routes[0].ranked}
    targets = targets_from_config(config)

    litellm = {
        d["model_info"]["id"]: d["litellm_params"]
        for d in litellm_config(routes, targets)["model_list"]
    }
    assert litellm[OFFERING]["model"] == f"dummy_ai/{MODEL}"
    assert litellm[OFFERING]["api_key"] == "os.environ/DUMMY_API_KEY"
    assert "dummy-cloud" in openrouter_config(routes, targets)[MODEL]["provider"]["order"]
    portkey = portkey_config(routes, targets, credentials="env")[MODEL]
    [dummy] = [t for t in portkey["targets"] if t.get("provider") == "dummy"]
    assert dummy["override_params"] == {"model": MODEL}
    assert dummy["api_key"] == "${DUMMY_API_KEY}"


# -- no per-protocol tables where the registries answer -----------------------------------


def test_exports_name_no_protocol_and_no_gateway_name() -> None:
    tree = ast.parse((ROOT / "monitor" / "exports.py").read_text(encoding="utf-8"))
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    gateway_names = {
        name
        for cls in PROBES.values()
        for name in (cls.gateways.litellm, cls.gateways.openrouter, cls.gateways.portkey)
        if name is not None
    }
    # the export formats are the gateways' own names (a gateway and a protocol may share one:
    # OpenRouter is both)
    assert (set(PROBES) | gateway_names) & (strings - set(FORMATS)) == set()


# -- no import circles ---------------------------------------------------------------------


def _import_graph() -> dict[str, set[str]]:
    """Module -> the provmon modules it imports anywhere (top level, in functions, and under
    ``TYPE_CHECKING``, which mypy and a reader follow too)."""
    modules = {}
    for root in ("monitor", "probes"):
        for path in (ROOT / root).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            modules[name] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            wanted: list[str] = []
            if isinstance(node, ast.Import):
                wanted = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                wanted = [f"{base}.{alias.name}" for alias in node.names] + [base]
            for target in wanted:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    found.add(target)
        graph[name] = found
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return out


def test_the_import_graph_of_monitor_and_probes_has_no_circle() -> None:
    graph = _import_graph()
    assert graph["monitor.interfaces"] == set()  # values only: everyone may import it
    assert "monitor.config" not in graph["monitor.pricing.base"]
    assert _cycles(graph) == []


def test_the_circle_finder_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
