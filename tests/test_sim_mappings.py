"""The simulator's WireMock stub mappings API, over a real socket."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.servers import ThreadedServer
from monitor.sim.app import build_app
from monitor.sim.scenario import Scenario

FAL_KEY = {"Authorization": "Key sim-fal-key"}


def stub(sim_url: str, mapping: dict[str, Any]) -> str:
    response = httpx.post(f"{sim_url}/_sim/mappings", json=mapping)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def teapot(body: str, **request: Any) -> dict[str, Any]:
    return {"request": request, "response": {"status": 418, "body": body}}


def test_a_posted_mapping_is_served_and_listed(sim_url: str) -> None:
    mapping_id = stub(
        sim_url,
        {
            "request": {"method": "GET", "urlPath": "/fal/api/v1/models"},
            "response": {
                "status": 503,
                "headers": {"Content-Type": "application/json", "X-Fal-Error-Type": "x"},
                "jsonBody": {"detail": "stubbed"},
            },
        },
    )
    answer = httpx.get(f"{sim_url}/fal/api/v1/models?endpoint_id=fal-ai/imagen4/preview")
    assert answer.status_code == 503
    assert answer.json() == {"detail": "stubbed"}
    assert answer.headers["x-fal-error-type"] == "x"
    listed = httpx.get(f"{sim_url}/_sim/mappings").json()
    assert listed["meta"]["total"] == 1
    assert listed["mappings"][0]["id"] == mapping_id
    assert listed["mappings"][0]["request"]["urlPath"] == "/fal/api/v1/models"


def test_unmatched_requests_get_the_fakes_own_answer(sim_url: str) -> None:
    stub(sim_url, teapot("status only", method="GET", urlPathPattern="/fal/queue/.*/status"))
    # another method on a mapped path, and another path, fall through to the fal fake
    models = httpx.get(f"{sim_url}/fal/api/v1/models?endpoint_id=fal-ai/imagen4/preview")
    assert models.status_code == 200
    assert models.json()["models"][0]["endpoint_id"] == "fal-ai/imagen4/preview"
    submitted = httpx.post(
        f"{sim_url}/fal/queue/fal-ai/imagen4/preview", json={"prompt": "a cat"}, headers=FAL_KEY
    )
    assert submitted.status_code == 200
    status = httpx.get(submitted.json()["status_url"], headers=FAL_KEY)
    assert (status.status_code, status.text) == (418, "status only")


def test_the_four_url_matchers_follow_wiremock(sim_url: str) -> None:
    stub(sim_url, teapot("url", url="/pages/a?x=1"))
    stub(sim_url, teapot("urlPath", urlPath="/pages/b"))
    stub(sim_url, teapot("urlPattern", urlPattern=r"/pages/c\?x=[0-9]+"))
    stub(sim_url, teapot("urlPathPattern", urlPathPattern="/pages/d/[a-z]+"))

    def text(path: str) -> str:
        answer = httpx.get(f"{sim_url}{path}")
        return answer.text if answer.status_code == 418 else f"fake {answer.status_code}"

    assert text("/pages/a?x=1") == "url"
    assert text("/pages/a?x=2") == "fake 404"  # url compares path and query
    assert text("/pages/b?anything=1") == "urlPath"  # urlPath ignores the query
    assert text("/pages/c?x=12") == "urlPattern"
    assert text("/pages/c?x=a") == "fake 404"
    assert text("/pages/d/abc") == "urlPathPattern"
    assert text("/pages/d/abc/more") == "fake 404"  # a regex matches the whole path


def test_method_headers_and_query_parameters(sim_url: str) -> None:
    stub(
        sim_url,
        teapot(
            "matched",
            method="POST",
            urlPath="/pages/h",
            headers={
                "Authorization": {"equalTo": "Key abc"},
                "Prefer": {"matches": "wait=[0-9]+"},
                "User-Agent": {"contains": "provmon"},
            },
            queryParameters={"logs": {"equalTo": "1"}},
        ),
    )
    stub(sim_url, teapot("any method", method="ANY", urlPath="/pages/any"))
    good = {"Authorization": "Key abc", "Prefer": "wait=5", "User-Agent": "provmon/1"}
    assert httpx.post(f"{sim_url}/pages/h?logs=1", headers=good).text == "matched"
    for changed in ({"Authorization": "Key abd"}, {"Prefer": "wait"}, {"User-Agent": "curl"}):
        assert (
            httpx.post(f"{sim_url}/pages/h?logs=1", headers={**good, **changed}).status_code != 418
        )
    assert httpx.post(f"{sim_url}/pages/h?logs=0", headers=good).status_code != 418
    assert httpx.get(f"{sim_url}/pages/h?logs=1", headers=good).status_code != 418
    assert httpx.delete(f"{sim_url}/pages/any").text == "any method"
    assert httpx.put(f"{sim_url}/pages/any").text == "any method"


def test_priority_one_beats_five_and_the_newest_wins_among_equals(sim_url: str) -> None:
    stub(sim_url, {**teapot("high", urlPath="/pages/p"), "priority": 1})
    stub(sim_url, teapot("default, newer", urlPath="/pages/p"))
    assert httpx.get(f"{sim_url}/pages/p").text == "high"
    stub(sim_url, teapot("older", urlPath="/pages/q"))
    stub(sim_url, teapot("newer", urlPath="/pages/q"))
    assert httpx.get(f"{sim_url}/pages/q").text == "newer"
    stub(sim_url, {**teapot("low", urlPath="/pages/r"), "priority": 9})
    stub(sim_url, {**teapot("five", urlPath="/pages/r"), "priority": 5})
    assert httpx.get(f"{sim_url}/pages/r").text == "five"


def test_body_kinds_and_a_fixed_delay(sim_url: str) -> None:
    raw = b"\x89PNG\r\n\x1a\n\x00binary"
    stub(
        sim_url,
        {
            "request": {"urlPath": "/files/stub.png"},
            "response": {
                "status": 200,
                "headers": {"Content-Type": "image/png"},
                "base64Body": base64.b64encode(raw).decode(),
                "fixedDelayMilliseconds": 300,
            },
        },
    )
    stub(
        sim_url,
        {
            "request": {"urlPath": "/pages/template"},
            "response": {
                "jsonBody": {"url": "{{request.baseUrl}}/files/stub.png"},
                "transformers": ["response-template"],
            },
        },
    )
    started = time.monotonic()
    image = httpx.get(f"{sim_url}/files/stub.png")
    assert time.monotonic() - started >= 0.3
    assert (image.content, image.headers["content-type"]) == (raw, "image/png")
    assert httpx.get(f"{sim_url}/pages/template").json() == {"url": f"{sim_url}/files/stub.png"}


def test_delete_one_and_delete_all(sim_url: str) -> None:
    first = stub(sim_url, teapot("one", urlPath="/pages/one"))
    stub(sim_url, teapot("two", urlPath="/pages/two"))
    assert httpx.delete(f"{sim_url}/_sim/mappings/{first}").status_code == 200
    assert httpx.delete(f"{sim_url}/_sim/mappings/{first}").status_code == 404
    assert httpx.get(f"{sim_url}/pages/one").status_code == 404  # the pages fake again
    assert httpx.get(f"{sim_url}/pages/two").text == "two"
    assert httpx.delete(f"{sim_url}/_sim/mappings").status_code == 200
    assert httpx.get(f"{sim_url}/_sim/mappings").json()["meta"]["total"] == 0
    assert httpx.get(f"{sim_url}/pages/two").status_code == 404


@pytest.mark.parametrize(
    ("mapping", "says"),
    [
        ({"request": {"url": "/a", "urlPath": "/a"}, "response": {}}, "at most one of"),
        ({"request": {"urlPattern": "(unclosed"}, "response": {}}, "bad regex"),
        (
            {"request": {"headers": {"X": {"equalTo": "a", "contains": "b"}}}, "response": {}},
            "exactly one",
        ),
        ({"request": {}, "response": {"body": "a", "jsonBody": {}}}, "at most one of"),
        ({"request": {}, "response": {"base64Body": "%%%"}}, "base64"),
        ({"request": {}, "response": {"status": 99}}, "response.status"),
        ({"request": {"bodyPatternz": []}, "response": {}}, "request.bodyPatternz"),
    ],
)
def test_a_bad_mapping_gets_one_clear_line(
    sim_url: str, mapping: dict[str, Any], says: str
) -> None:
    answer = httpx.post(f"{sim_url}/_sim/mappings", json=mapping)
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert says in detail and "\n" not in detail
    assert httpx.get(f"{sim_url}/_sim/mappings").json()["meta"]["total"] == 0


def test_control_paths_are_never_mapped(sim_url: str) -> None:
    stub(sim_url, teapot("hijacked", urlPathPattern="/.*"))
    assert httpx.get(f"{sim_url}/_sim/mappings").status_code == 200
    assert httpx.get(f"{sim_url}/pages/anything").text == "hijacked"


@pytest.fixture()
def guarded() -> Iterator[tuple[str, str]]:
    """Two simulators: control disabled, and control behind a token."""
    off = ThreadedServer(build_app(), "127.0.0.1", 0)
    locked = ThreadedServer(build_app(control_enabled=True, control_token="s3cret"), "127.0.0.1", 0)
    off.start()
    locked.start()
    yield off.url, locked.url
    off.stop()
    locked.stop()


def test_mappings_have_the_control_apis_protection(guarded: tuple[str, str]) -> None:
    off, locked = guarded
    mapping = teapot("x", urlPath="/pages/x")
    assert httpx.post(f"{off}/_sim/mappings", json=mapping).status_code == 404
    assert httpx.get(f"{off}/_sim/mappings").status_code == 404
    assert httpx.post(f"{locked}/_sim/mappings", json=mapping).status_code == 401
    assert httpx.delete(f"{locked}/_sim/mappings").status_code == 401
    assert httpx.get(f"{locked}/pages/x").status_code != 418
    token = {"Authorization": "Bearer s3cret"}
    posted = httpx.post(f"{locked}/_sim/mappings", json=mapping, headers=token)
    assert posted.status_code == 201
    assert httpx.delete(f"{locked}/_sim/mappings/{posted.json()['id']}").status_code == 401
    assert httpx.get(f"{locked}/pages/x").text == "x"


SCENARIO = """
mappings:
  - request: {method: GET, urlPath: /replicate/v1/account}
    response:
      status: 402
      headers: {Content-Type: application/problem+json}
      jsonBody: {title: Payment required, status: 402, detail: stubbed}
"""


def test_a_scenario_carries_mappings(sim_url: str) -> None:
    assert Scenario.from_text(SCENARIO).mappings[0].response.status == 402
    try:
        assert httpx.put(f"{sim_url}/_sim/scenario", content=SCENARIO).status_code == 200
        answer = httpx.get(f"{sim_url}/replicate/v1/account", headers={"Authorization": "Bearer x"})
        assert (answer.status_code, answer.json()["detail"]) == (402, "stubbed")
    finally:
        httpx.put(f"{sim_url}/_sim/scenario", content="{}")
    assert httpx.get(f"{sim_url}/_sim/mappings").json()["meta"]["total"] == 0


def test_the_readme_mapping_example_replaces_fals_status_poll(sim_url: str) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    [example] = [b for b in re.findall(r"```json\n(.*?)```", readme, re.S) if "urlPath" in b]
    stub(sim_url, json.loads(example))
    submitted = httpx.post(
        f"{sim_url}/fal/queue/fal-ai/imagen4/preview", json={"prompt": "a cat"}, headers=FAL_KEY
    ).json()
    status = httpx.get(submitted["status_url"], headers=FAL_KEY)
    assert (status.status_code, status.json()) == (404, {"detail": "Request not found"})
    assert httpx.get(submitted["response_url"], headers=FAL_KEY).status_code != 404


def test_a_wiremock_export_drops_in_and_unsupported_matching_is_refused(sim_url: str) -> None:
    exported = {
        "uuid": "8c5db8b0-2db4-4ad7-a99f-38c9b00da3f7",
        "persistent": True,
        "metadata": {"source": "recorded"},
        **teapot("exported", method="GET", urlPath="/pages/exported"),
    }
    assert stub(sim_url, exported) == exported["uuid"]
    assert httpx.get(f"{sim_url}/pages/exported").text == "exported"
    body_match = {"request": {"urlPath": "/pages/x", "bodyPatterns": []}, "response": {}}
    assert httpx.post(f"{sim_url}/_sim/mappings", json=body_match).status_code == 422
