"""Real answers from Vertex AI, the Gemini API, OpenAI and Lumenfall, classified right.

Two ways, as issue 14 asks: (a) every corpus file in tests/fixtures/answers/{vertex,
gemini,openai,lumenfall} read through the probe's own failure path, with its mappings
checked against the paths the real probe requests; (b) the fakes' scenario behaviours
(``account``, ``filter``) answering those shapes over a real socket, through the Runner.
The replay harness (tests/test_answers.py) also runs every file end to end.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.config import (
    Config,
    load_config,
    parse_config,
    point_at_simulator,
)
from monitor.interfaces import Kind, Outcome, ProbeResult
from monitor.runner import Runner
from probes import PROBES
from probes import _google as google_family
from probes import _openai_images as openai_family
from tests.conftest import set_behaviour

ROOT = Path(__file__).resolve().parents[2]
ANSWERS = ROOT / "tests" / "fixtures" / "answers"
CATALOGS = ROOT / "monitor" / "catalog"
PROTOCOLS = ("vertex", "gemini", "openai", "lumenfall")
#: the error answers (``content-*`` files are generateContent answers, read by
#: tests/probes/test_content.py); every file is also replayed end to end by tests/test_answers.py
CORPUS = sorted(
    p for proto in PROTOCOLS for p in (ANSWERS / proto).glob("*.json") if "content-" not in p.name
)

#: the paths the real probes request on the simulator, by protocol and kind
PATHS = {
    ("vertex", "generate"): (
        "POST",
        "/vertex/v1/projects/sim-project/locations/us-central1/publishers/google/models/{m}:predict",
    ),
    ("vertex", "control"): ("GET", "/vertex/v1/publishers/google/models/{m}"),
    ("gemini", "generate"): ("POST", "/gemini/v1beta/models/{m}:predict"),
    ("gemini", "control"): ("GET", "/gemini/v1beta/models/{m}"),
    ("openai", "generate"): ("POST", "/openai/v1/images/generations"),
    ("openai", "control"): ("GET", "/openai/v1/models/{m}"),
    ("lumenfall", "generate"): ("POST", "/openai/v1/images/generations"),
    ("lumenfall", "control"): ("GET", "/openai/v1/models/{m}"),
}


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def test_every_protocol_has_at_least_eight_sourced_answers() -> None:
    for proto in PROTOCOLS:
        files = list((ANSWERS / proto).glob("*.json"))
        assert len(files) >= 8, proto
        for path in files:
            case = load(path)
            assert case["source"].startswith("https://"), path.name
            assert case["description"] and "\n" not in case["description"], path.name
            assert case["kind"] in ("generate", "control"), path.name
            assert Outcome(case["expect"]["outcome"]), path.name


def _response(mapping: dict[str, Any]) -> httpx.Response:
    answer = mapping["response"]
    headers = answer.get("headers", {})
    if "jsonBody" in answer:
        content = json.dumps(answer["jsonBody"]).encode()
    else:
        content = answer["body"].encode()
    return httpx.Response(answer["status"], content=content, headers=headers)


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_each_answer_is_classified_by_the_probes_own_failure_path(path: Path) -> None:
    case = load(path)
    proto = path.parent.name
    config = point_at_simulator(load_config(CATALOGS / case["catalog"]), "http://sim")
    offering = config.offerings[case["offering"]]
    assert config.providers[config.provider_of(case["offering"])].protocol == proto
    method, template = PATHS[(proto, case["kind"])]
    wanted = template.format(m=offering.provider_model)
    # the mapping that answers the probe's own request (the replay test serves it)
    served = [
        m
        for m in case["mappings"]
        if m["request"]["method"] in (method, "ANY")
        and re.fullmatch(m["request"]["urlPathPattern"], wanted)
    ]
    assert served, f"no mapping matches {method} {wanted}"
    probe: Any = PROBES[proto]()
    response = _response(served[0])
    if proto in ("vertex", "gemini"):
        failure = probe.fail(response)
    else:
        try:
            body = response.json()
        except ValueError:
            body = None
        failure = probe.fail(None, response, body, names_model=True)
    expect = case["expect"]
    assert failure.outcome == Outcome(expect["outcome"]), failure.message
    assert expect.get("error_contains", "") in failure.message


KEY_INVALID = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}


def gerr(code: int, status: str, message: str, *details: dict[str, Any]) -> dict[str, Any]:
    return {"error": {"code": code, "status": status, "message": message, "details": list(details)}}


@pytest.mark.parametrize(
    ("status", "body", "which"),
    [
        (402, None, "billing"),
        (400, gerr(400, "INVALID_ARGUMENT", "k", KEY_INVALID), "key"),
        (403, gerr(403, "PERMISSION_DENIED", "Your API key was reported as leaked."), "key"),
        (403, gerr(403, "PERMISSION_DENIED", "The caller does not have permission"), "permission"),
        (401, gerr(401, "UNAUTHENTICATED", "Request had invalid credentials."), "key"),
        # a structured zero quota: QuotaFailure quotaValue "0", or ErrorInfo metadata
        (
            429,
            gerr(429, "RESOURCE_EXHAUSTED", "q", {"violations": [{"quotaValue": "0"}]}),
            "quota",
        ),
        (
            429,
            gerr(429, "RESOURCE_EXHAUSTED", "q", {"metadata": {"quota_limit_value": "0"}}),
            "quota",
        ),
        (429, gerr(429, "RESOURCE_EXHAUSTED", "q", {"violations": [{"quotaValue": "10"}]}), None),
        (429, gerr(429, "RESOURCE_EXHAUSTED", "quota exceeded, limit: 60"), None),
        (400, gerr(400, "INVALID_ARGUMENT", "Request contains an invalid argument."), None),
    ],
)
def test_google_account_problems_say_which(status: int, body: Any, which: str | None) -> None:
    assert google_family.account_problem(status, body) == which
    outcome = google_family.classify(status, body)
    assert (outcome == Outcome.AUTH_ERROR) == (which is not None), outcome


@pytest.mark.parametrize(
    "message",
    [
        "Image generation failed with the following error: The prompt could not be submitted.",
        "The prompt could not be submitted. Support codes: 29310472",
        "Blocked. Error Code: 89371032",
        "Your current safety filter threshold prohibited one or more words in this prompt.",
    ],
)
def test_the_safety_systems_400_is_content_filtered(message: str) -> None:
    body = gerr(400, "INVALID_ARGUMENT", message)
    assert google_family.classify(400, body) == Outcome.CONTENT_FILTERED


def test_an_ordinary_400_stays_a_bad_request() -> None:
    body = gerr(400, "INVALID_ARGUMENT", "sampleCount must be an integer from 1 to 4.")
    assert google_family.classify(400, body) == Outcome.BAD_REQUEST


def _openai(code: str | None, kind: str = "invalid_request_error", message: str = "m") -> Any:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


@pytest.mark.parametrize(
    ("status", "body", "which"),
    [
        (429, _openai("insufficient_quota", "insufficient_quota"), "quota"),
        (429, _openai(None, "insufficient_quota"), "quota"),
        (400, _openai("billing_hard_limit_reached"), "billing"),
        (429, _openai("organization_spend_limit_exceeded"), "billing"),
        (400, _openai("project_spend_limit_exceeded"), "billing"),
        (429, _openai("organization_usage_limit_exceeded"), "quota"),
        (402, _openai("INSUFFICIENT_BALANCE", "insufficient_quota"), "billing"),
        (402, "<html>payment required</html>", "billing"),
        (401, _openai("AUTHENTICATION_FAILED", "authentication_error"), "key"),
        (403, _openai(None), "permission"),
        (429, _openai("rate_limit_exceeded", "requests"), None),
        (400, _openai("invalid_value"), None),
    ],
)
def test_openai_account_problems_say_which(status: int, body: Any, which: str | None) -> None:
    assert openai_family.account_problem(status, body) == which
    outcome = openai_family.classify(status, body)
    assert (outcome == Outcome.AUTH_ERROR) == (which is not None), outcome


@pytest.mark.parametrize(
    ("status", "body", "names_model", "outcome"),
    [
        (404, _openai("model_not_found"), True, Outcome.MODEL_UNAVAILABLE),
        (404, _openai("MODEL_DISABLED"), True, Outcome.MODEL_UNAVAILABLE),
        # the model list names no model: its 404 is a wrong URL
        (404, _openai("model_not_found"), False, Outcome.PROTOCOL_ERROR),
        (404, "<html><h1>404 Not Found</h1></html>", True, Outcome.PROTOCOL_ERROR),
        (404, None, True, Outcome.PROTOCOL_ERROR),
        (404, _openai(None, message="Invalid URL (POST /v1/x)"), True, Outcome.PROTOCOL_ERROR),
    ],
)
def test_openai_404_means_model_gone_only_where_it_can(
    status: int, body: Any, names_model: bool, outcome: Outcome
) -> None:
    assert openai_family.classify(status, body, names_model=names_model) == outcome


# -- (b) the fakes answer these shapes from scenario behaviours, over a socket ----------


async def run(config: Config, offering: str, kind: Kind = Kind.GENERATE) -> ProbeResult:
    runner = Runner(config)
    try:
        return await runner.run_probe(offering, kind)
    finally:
        await runner.aclose()


@pytest.fixture()
def openai_config(sim_url: str, monkeypatch: pytest.MonkeyPatch) -> Config:
    """The GPT Image catalog aimed at the simulator."""
    monkeypatch.setenv("OPENAI_API_KEY", "sim-openai-key")
    return point_at_simulator(load_config(CATALOGS / "gpt-image.yaml"), sim_url)


#: (provider, behaviour, the account part the error names); Vertex bills through the
#: project, so an exhausted account answers BILLING_DISABLED; Lumenfall answers 402
ACCOUNT_CASES = [
    ("vertex", "exhausted", "billing"),
    ("vertex", "key", "key"),
    ("vertex", "permission", "permission"),
    ("gemini", "exhausted", "quota"),
    ("gemini", "billing", "billing"),
    ("gemini", "key", "key"),
    ("gemini", "permission", "permission"),
    ("lumenfall", "exhausted", "billing"),
    ("lumenfall", "key", "key"),
]
MODEL = "imagen-4.0-generate-001"


@pytest.mark.parametrize(("provider", "problem", "which"), ACCOUNT_CASES)
async def test_a_dead_account_is_an_auth_error_that_says_which_part(
    sim_config: Config, sim_url: str, provider: str, problem: str, which: str
) -> None:
    fake = "openai" if provider == "lumenfall" else provider
    set_behaviour(sim_url, f"{fake}:{MODEL}", account=problem)
    result = await run(sim_config, f"{provider}/{MODEL}")
    assert result.outcome == Outcome.AUTH_ERROR, result.error
    assert f"account: {which}" in (result.error or "")
    # the free control call still answers: only billable calls are refused
    control = await run(sim_config, f"{provider}/{MODEL}", Kind.CONTROL)
    assert control.outcome == Outcome.OK, control.error


@pytest.mark.parametrize(
    ("problem", "which"),
    [("exhausted", "quota"), ("billing", "billing"), ("key", "key"), ("permission", "permission")],
)
async def test_openais_account_answers_are_auth_errors(
    openai_config: Config, sim_url: str, problem: str, which: str
) -> None:
    set_behaviour(sim_url, "openai:gpt-image-2", account=problem)
    result = await run(openai_config, "openai/gpt-image-2")
    assert result.outcome == Outcome.AUTH_ERROR, result.error
    assert f"account: {which}" in (result.error or "")


async def test_an_account_problem_touches_no_other_offering(
    sim_config: Config, sim_url: str
) -> None:
    set_behaviour(sim_url, "gemini:imagen-4.0-generate-001", account="exhausted")
    other = await run(sim_config, "gemini/imagen-4.0-fast-generate-001")
    assert other.outcome == Outcome.OK, other.error


@pytest.mark.parametrize("provider", ["vertex", "gemini"])
async def test_googles_prompt_block_400_is_content_filtered(
    sim_config: Config, sim_url: str, provider: str
) -> None:
    set_behaviour(sim_url, f"{provider}:imagen-4.0-generate-001", filter="prompt_block")
    result = await run(sim_config, f"{provider}/imagen-4.0-generate-001")
    assert result.outcome == Outcome.CONTENT_FILTERED, result.error
    assert result.http_status == 400
    assert "Support codes" in (result.error or "")


@pytest.mark.parametrize("provider", ["vertex", "gemini"])
async def test_a_404_from_a_wrong_url_is_a_protocol_error_not_a_retirement(
    sim_config: Config, provider: str
) -> None:
    # one path segment too many: Google's front end answers its HTML 404 page
    data = sim_config.model_dump(mode="json")
    data["providers"][provider]["base_url"] += "/extra"
    config = parse_config(data)
    for kind in (Kind.GENERATE, Kind.CONTROL):
        result = await run(config, f"{provider}/imagen-4.0-generate-001", kind)
        assert result.outcome == Outcome.PROTOCOL_ERROR, result.error
        assert result.http_status == 404
        assert "no Google error envelope" in (result.error or "")


@pytest.mark.parametrize("offering", ["lumenfall/imagen-4.0-generate-001", "openai/gpt-image-2"])
async def test_openais_invalid_url_404_is_a_protocol_error(
    sim_config: Config, openai_config: Config, offering: str
) -> None:
    # the /v1 doubled, a classic base-URL mistake: "Invalid URL (POST /v1/v1/images/...)"
    config = openai_config if offering.startswith("openai/") else sim_config
    data = config.model_dump(mode="json")
    provider = offering.split("/")[0]
    data["providers"][provider]["base_url"] += "/v1"
    for kind in (Kind.GENERATE, Kind.CONTROL):
        result = await run(parse_config(data), offering, kind)
        assert result.outcome == Outcome.PROTOCOL_ERROR, result.error
        assert "Invalid URL" in (result.error or "")


async def test_the_openai_model_list_404_is_not_a_retirement(
    openai_config: Config, sim_url: str
) -> None:
    # listing all models names none: even a model_not_found there is not a retirement
    data = openai_config.model_dump(mode="json")
    data["providers"]["openai"]["options"]["control"] = "list_models"
    data["providers"]["openai"]["base_url"] += "/v1"
    result = await run(parse_config(data), "openai/gpt-image-2", Kind.CONTROL)
    assert result.outcome == Outcome.PROTOCOL_ERROR, result.error
