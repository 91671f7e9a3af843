"""The contract every protocol in ``PROBES`` keeps, run against its own fake over loopback.

For each protocol: its gateway names and its fake are declared on its own class, the
simulator serves that fake, control and generate succeed, and every outcome is reachable
through the simulator's scenario behaviours (plus a dead port, a wrong key, a blank prompt
and an expected size the fake does not make), each classified as that outcome. A protocol
gets these tests by being registered. The helpers take the catalog as data and the
simulator's URL, so ``tests/test_plugin_seams.py`` runs them on a protocol registered in
that test alone.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from monitor.catalogs import demo_catalog
from monitor.config import Config, parse_config, point_at_simulator
from monitor.interfaces import GatewayNames, Kind, Outcome, ProbeResult
from monitor.runner import Runner
from monitor.servers import free_port
from monitor.sim.app import fake_prefix
from probes import PROBES
from tests.conftest import set_behaviour

#: fast fakes: the outcome, not the latency, is under test
FAST = {
    "ttfb": {"fixed": 0.0},
    "queue": {"fixed": 0.02},
    "inference": {"fixed": 0.02},
    "download": {"fixed": 0.0},
}
WRONG_KEY = "not-a-valid-key"


@dataclass(frozen=True, kw_only=True)
class Case:
    """One protocol's offering, taken from a catalog served by the protocol's fake."""

    protocol: str
    #: the catalog (``Config.model_dump``), its provider switched to ``protocol``
    data: Mapping[str, Any]
    offering: str

    @property
    def fake(self) -> str:
        return PROBES[self.protocol].fake

    @property
    def provider(self) -> str:
        return self.offering.split("/", 1)[0]

    def config(
        self,
        sim_url: str,
        *,
        prompt: str | None = None,
        options: Mapping[str, Any] | None = None,
        **offering: Any,
    ) -> Config:
        """The catalog aimed at ``sim_url``, the case's offering updated with ``offering``
        and its provider's options with ``options``."""
        data = copy.deepcopy(dict(self.data))
        data["offerings"][self.offering].update(offering)
        if options:
            provider = data["providers"][self.provider]
            provider["options"] = {**provider.get("options", {}), **options}
            simulated = provider.get("simulated", {})
            simulated["options"] = {**simulated.get("options", {}), **options}
        if prompt is not None:
            data["defaults"]["prompt"] = prompt
        return point_at_simulator(parse_config(data), sim_url)

    def credentials(self) -> dict[str, str]:
        simulated = self.data["providers"][self.provider].get("simulated", {})
        return {str(k): str(v) for k, v in simulated.get("env", {}).items()}


def catalog_data() -> dict[str, Any]:
    """The demo's catalog: today's models and Imagen 4's, so every fake has an offering."""
    data: dict[str, Any] = demo_catalog().model_dump(mode="json")
    return data


def case_for(protocol: str, data: Mapping[str, Any] | None = None) -> Case:
    """An offering of a provider in ``data`` (default: the catalog) whose protocol is served by
    the same fake as ``protocol``, preferring one of ``protocol`` itself; the provider is
    switched to ``protocol`` (OpenAI's own API is probed through Lumenfall's entry)."""
    data = dict(catalog_data() if data is None else data)
    fake = PROBES[protocol].fake
    providers = {
        name: p for name, p in data["providers"].items() if PROBES[p["protocol"]].fake == fake
    }
    assert providers, f"no provider in the catalog is served by the {fake!r} fake"
    name = next(
        (n for n, p in providers.items() if p["protocol"] == protocol), next(iter(providers))
    )
    data["providers"] = {**data["providers"], name: {**providers[name], "protocol": protocol}}
    offering = next(key for key in data["offerings"] if key.startswith(name + "/"))
    return Case(protocol=protocol, data=data, offering=offering)


def check_declarations(protocol: str, sim_url: str) -> None:
    """Gateway names and the fake are declared on the class itself, and the fake is served."""
    cls = PROBES[protocol]
    own = vars(cls)
    assert isinstance(own.get("gateways"), GatewayNames), f"{protocol}: declare gateways"
    assert isinstance(own.get("fake"), str), f"{protocol}: declare the fake that serves it"
    names = cls.gateways
    assert names.litellm or names.openrouter or names.portkey, f"{protocol}: no gateway routes it"
    index = httpx.get(sim_url + "/").json()
    assert index["protocols"][protocol] == fake_prefix(cls.fake)
    assert fake_prefix(cls.fake) in index["prefixes"]


#: every outcome, and the kind of probe it is provoked on
OUTCOMES: list[tuple[Outcome, Kind]] = [
    (Outcome.OK, Kind.GENERATE),
    (Outcome.OK, Kind.CONTROL),
    (Outcome.TIMEOUT, Kind.GENERATE),
    (Outcome.CONNECT_ERROR, Kind.GENERATE),
    (Outcome.CONNECT_ERROR, Kind.CONTROL),
    (Outcome.AUTH_ERROR, Kind.GENERATE),
    (Outcome.AUTH_ERROR, Kind.CONTROL),
    (Outcome.RATE_LIMITED, Kind.GENERATE),
    (Outcome.BAD_REQUEST, Kind.GENERATE),
    (Outcome.SERVER_ERROR, Kind.GENERATE),
    (Outcome.CONTENT_FILTERED, Kind.GENERATE),
    (Outcome.INVALID_OUTPUT, Kind.GENERATE),
    (Outcome.MODEL_UNAVAILABLE, Kind.GENERATE),
    (Outcome.MODEL_UNAVAILABLE, Kind.CONTROL),
    (Outcome.PROTOCOL_ERROR, Kind.GENERATE),
]
#: the scenario behaviour that provokes an outcome at every fake
BEHAVIOURS: dict[Outcome, dict[str, Any]] = {
    Outcome.TIMEOUT: {"outage": "hang"},
    Outcome.RATE_LIMITED: {"rate_limit_ratio": 1.0, "retry_after_s": 7},
    Outcome.SERVER_ERROR: {"error_ratio": 1.0},
    Outcome.CONTENT_FILTERED: {"safety_ratio": 1.0},
    Outcome.MODEL_UNAVAILABLE: {"retired": True},
    Outcome.PROTOCOL_ERROR: {"outage": "reset"},
}


def provoke(case: Case, outcome: Outcome, sim_url: str, env: dict[str, str]) -> Config:
    """Set up the fake (and the config, and ``env``) so a probe of ``case`` ends in
    ``outcome``; returns the config to probe with."""
    set_behaviour(sim_url, f"{case.fake}:*", latency=FAST, **BEHAVIOURS.get(outcome, {}))
    # a protocol may name the options under which its API can answer an outcome at all
    # (fal's queue holds requests over the concurrency limit; only its sync run says 429)
    options = getattr(PROBES[case.protocol], "contract_options", {}).get(outcome)
    if options:
        return case.config(sim_url, options=options)
    if outcome == Outcome.CONNECT_ERROR:
        return case.config(f"http://127.0.0.1:{free_port()}")
    if outcome == Outcome.AUTH_ERROR:
        env.update({name: WRONG_KEY for name in case.credentials()})
    if outcome == Outcome.TIMEOUT:
        return case.config(sim_url, timeout_seconds=0.5)
    if outcome == Outcome.BAD_REQUEST:
        # every API documents the prompt as required: a blank one is invalid input
        return case.config(sim_url, prompt=" ")
    if outcome == Outcome.INVALID_OUTPUT:
        return case.config(sim_url, expect={"width": 7, "height": 7})
    return case.config(sim_url)


async def run_outcome(
    case: Case, outcome: Outcome, kind: Kind, sim_url: str, monkeypatch: pytest.MonkeyPatch
) -> ProbeResult:
    """Provoke ``outcome`` and probe once; assert what any protocol must report for it."""
    env = case.credentials()
    config = provoke(case, outcome, sim_url, env)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    runner = Runner(config)
    try:
        result = await runner.run_probe(case.offering, kind)
    finally:
        await runner.aclose()
    assert result.outcome == outcome, f"{case.protocol} {kind}: {result.outcome} {result.error}"
    assert WRONG_KEY not in (result.error or "")
    if outcome == Outcome.OK:
        assert result.error is None
        if kind == Kind.GENERATE:
            assert result.image is not None and result.cost_usd > 0
        else:
            assert result.image is None and result.cost_usd == 0
    else:
        assert result.error, "a failure says why"
        # an image of the wrong size was still made, and billed
        assert (result.cost_usd > 0) == (outcome == Outcome.INVALID_OUTPUT)
    return result


@pytest.mark.parametrize("protocol", sorted(PROBES))
def test_a_protocol_declares_its_gateway_names_and_the_fake_that_serves_it(
    protocol: str, sim_url: str
) -> None:
    check_declarations(protocol, sim_url)


#: every (protocol, outcome, kind), less what a protocol declares its API cannot answer at
#: all (``contract_unreachable``, with the reason beside it on the class)
CASES = [
    (protocol, outcome, kind)
    for protocol in sorted(PROBES)
    for outcome, kind in OUTCOMES
    if (outcome, kind) not in getattr(PROBES[protocol], "contract_unreachable", frozenset())
]


@pytest.mark.parametrize(
    ("protocol", "outcome", "kind"), CASES, ids=[f"{p}-{o}-{k}" for p, o, k in CASES]
)
async def test_every_outcome_is_reachable_against_the_protocols_fake(
    protocol: str, outcome: Outcome, kind: Kind, sim_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await run_outcome(case_for(protocol), outcome, kind, sim_url, monkeypatch)
