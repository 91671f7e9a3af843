"""``monitor.pricing.fetch`` over a real loopback socket: conditional requests, the size cap,
same-host redirects only, and failures that say whether a retry could help."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from monitor.http import USER_AGENT, build_client
from monitor.pricing.fetch import FetchState, FetchStatus, fetch
from monitor.secrets import register
from monitor.servers import ThreadedServer

PAGE = "<html><body><table><tr><td>Imagen 4 Fast</td><td>$0.02</td></tr></table></body></html>"
ETAG = '"' + hashlib.sha256(PAGE.encode()).hexdigest()[:16] + '"'
SEEN: list[dict[str, str]] = []


async def page(request: Request) -> Response:
    SEEN.append(dict(request.headers))
    if request.headers.get("if-none-match") == ETAG:
        return Response(status_code=304, headers={"ETag": ETAG})
    headers = {"ETag": ETAG, "Last-Modified": "Mon, 26 Jan 2026 10:00:00 GMT"}
    return Response(PAGE, media_type="text/html; charset=utf-8", headers=headers)


async def status(request: Request) -> Response:
    return PlainTextResponse("no", status_code=int(request.path_params["code"]))


async def hop(request: Request) -> Response:
    left = int(request.path_params["n"])
    return RedirectResponse("/page" if left == 0 else f"/hop/{left - 1}", status_code=302)


async def offsite(request: Request) -> Response:
    port = request.url.port
    return RedirectResponse(f"http://localhost:{port}/page", status_code=301)


async def leak(request: Request) -> Response:
    return RedirectResponse("https://sk-very-secret-value.example/x", status_code=302)


async def big(request: Request) -> Response:
    return Response(b"x" * 200_000, media_type="text/plain")


async def gzipped_bomb(request: Request) -> Response:
    import gzip

    body = gzip.compress(b"0" * 5_000_000)
    return Response(body, headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"})


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    app = Starlette(
        routes=[
            Route("/page", page),
            Route("/status/{code:int}", status),
            Route("/hop/{n:int}", hop),
            Route("/offsite", offsite),
            Route("/leak", leak),
            Route("/big", big),
            Route("/bomb", gzipped_bomb),
        ]
    )
    srv = ThreadedServer(app)
    srv.start()
    yield srv.url
    srv.stop()


async def test_a_page_comes_back_with_its_validators_and_honest_headers(server: str) -> None:
    SEEN.clear()
    async with build_client(timeout=5) as client:
        got = await fetch(client, f"{server}/page", headers={}, max_bytes=100_000, state=None)
    assert got.status is FetchStatus.OK and got.text == PAGE
    assert got.etag == ETAG and got.last_modified == "Mon, 26 Jan 2026 10:00:00 GMT"
    assert SEEN[-1]["user-agent"] == USER_AGENT
    assert SEEN[-1]["accept-language"] == "en"
    assert "if-none-match" not in SEEN[-1]


async def test_a_conditional_request_for_an_unchanged_page_is_not_modified(server: str) -> None:
    SEEN.clear()
    state = FetchState(etag=ETAG, last_modified="Mon, 26 Jan 2026 10:00:00 GMT")
    async with build_client(timeout=5) as client:
        got = await fetch(client, f"{server}/page", headers={}, max_bytes=100_000, state=state)
    assert got.status is FetchStatus.NOT_MODIFIED and got.ok and got.text == ""
    assert SEEN[-1]["if-none-match"] == ETAG
    assert SEEN[-1]["if-modified-since"] == "Mon, 26 Jan 2026 10:00:00 GMT"


@pytest.mark.parametrize("code", [403, 429, 500, 503])
async def test_blocking_rate_limits_and_server_errors_are_transient(server: str, code: int) -> None:
    async with build_client(timeout=5) as client:
        got = await fetch(client, f"{server}/status/{code}", headers={}, max_bytes=1000, state=None)
    assert got.status is FetchStatus.FAILED and got.transient
    assert got.error is not None and f"HTTP {code}" in got.error


@pytest.mark.parametrize("code", [401, 404, 410])
async def test_other_client_errors_are_permanent(server: str, code: int) -> None:
    async with build_client(timeout=5) as client:
        got = await fetch(client, f"{server}/status/{code}", headers={}, max_bytes=1000, state=None)
    assert got.status is FetchStatus.FAILED and not got.transient
    assert got.http_status == code


async def test_redirects_on_the_same_host_are_followed_up_to_three(server: str) -> None:
    async with build_client(timeout=5) as client:
        three = await fetch(client, f"{server}/hop/2", headers={}, max_bytes=100_000, state=None)
        four = await fetch(client, f"{server}/hop/3", headers={}, max_bytes=100_000, state=None)
    assert three.status is FetchStatus.OK and three.url.endswith("/page")
    assert four.status is FetchStatus.FAILED and "more than 3 redirects" in (four.error or "")


async def test_a_redirect_to_another_host_is_refused_and_names_it(server: str) -> None:
    SEEN.clear()
    async with build_client(timeout=5) as client:
        got = await fetch(client, f"{server}/offsite", headers={}, max_bytes=100_000, state=None)
    assert got.status is FetchStatus.FAILED and not got.transient
    assert "foreign host http://localhost" in (got.error or "")
    assert SEEN == []  # the foreign URL was never requested


@pytest.mark.parametrize("path", ["/big", "/bomb"])
async def test_a_body_past_the_cap_is_refused(server: str, path: str) -> None:
    async with build_client(timeout=5) as client:
        got = await fetch(client, f"{server}{path}", headers={}, max_bytes=100_000, state=None)
    assert got.status is FetchStatus.FAILED and "cap" in (got.error or "")


async def test_an_unreachable_host_is_a_transient_connect_error() -> None:
    from monitor.servers import free_port

    url = f"http://127.0.0.1:{free_port()}/page"
    async with build_client(timeout=2) as client:
        got = await fetch(client, url, headers={}, max_bytes=1000, state=None)
    assert got.status is FetchStatus.FAILED and got.transient
    assert (got.error or "").startswith("connect_error")


async def test_a_slow_answer_fails_at_the_deadline(server: str) -> None:
    async with build_client(timeout=5) as client:
        got = await fetch(
            client, f"{server}/page", headers={}, max_bytes=1000, state=None, deadline_seconds=0
        )
    assert got.status is FetchStatus.FAILED and got.transient and "within 0s" in (got.error or "")


async def test_errors_never_carry_a_registered_secret(server: str) -> None:
    register("sk-very-secret-value")
    async with build_client(timeout=2) as client:
        got = await fetch(client, f"{server}/leak", headers={}, max_bytes=1000, state=None)
    assert got.status is FetchStatus.FAILED and "foreign host" in (got.error or "")
    assert "sk-very-secret-value" not in (got.error or "")
