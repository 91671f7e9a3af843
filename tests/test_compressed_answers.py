"""Answers sent compressed (httpx asks for gzip and deflate, and real APIs use them) are
read as their JSON: a probe's verdict is the same as for the same answer sent plain."""

from __future__ import annotations

import asyncio
import base64
import gzip
import io
import json
import zlib
from collections.abc import Callable

import pytest
from PIL import Image

from monitor.config import parse_config
from monitor.interfaces import Kind, Outcome
from monitor.runner import Runner
from tests.test_netbackend import peer, read_request

ENCODINGS: dict[str, Callable[[bytes], bytes]] = {
    "identity": lambda body: body,
    "gzip": gzip.compress,
    "deflate": zlib.compress,
}


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (9, 9, 9)).save(out, format="PNG")
    return out.getvalue()


def answering(status: str, answer: object, encoding: str):  # type: ignore[no-untyped-def]
    body = ENCODINGS[encoding](json.dumps(answer).encode())
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        + ("" if encoding == "identity" else f"Content-Encoding: {encoding}\r\n")
        + "\r\n"
    )

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(head.encode() + body)
            await writer.drain()

    return handler


async def probe(url: str, kind: Kind):  # type: ignore[no-untyped-def]
    config = parse_config(
        {
            "models": {"m1": {}},
            "providers": {
                "p": {
                    "protocol": "lumenfall",
                    "base_url": url + "/v1",
                    "credential_required": False,
                }
            },
            "offerings": {
                "p/m1": {
                    "provider_model": "m1",
                    "params": {"response_format": "b64_json"},
                    "expect": {"width": 64, "height": 64},
                }
            },
        }
    )
    runner = Runner(config)
    try:
        return await runner.run_probe("p/m1", kind)
    finally:
        await runner.aclose()


@pytest.mark.parametrize("encoding", list(ENCODINGS))
async def test_a_compressed_model_answer_passes_the_control_probe(encoding: str) -> None:
    async with peer(answering("200 OK", {"id": "m1", "object": "model"}, encoding)) as url:
        result = await probe(url, Kind.CONTROL)
    assert result.outcome == Outcome.OK, result.error


@pytest.mark.parametrize("encoding", list(ENCODINGS))
async def test_a_compressed_image_answer_passes_the_generate_probe(encoding: str) -> None:
    image = base64.b64encode(png(64, 64)).decode()
    answer = {"created": 1, "data": [{"b64_json": image}]}
    async with peer(answering("200 OK", answer, encoding)) as url:
        result = await probe(url, Kind.GENERATE)
    assert result.outcome == Outcome.OK, result.error
    assert result.image is not None and (result.image.width, result.image.height) == (64, 64)


@pytest.mark.parametrize("encoding", list(ENCODINGS))
async def test_a_compressed_error_answer_is_classified_from_its_body(encoding: str) -> None:
    answer = {"error": {"message": "no such key", "type": "invalid_request_error"}}
    async with peer(answering("401 Unauthorized", answer, encoding)) as url:
        result = await probe(url, Kind.CONTROL)
    assert result.outcome == Outcome.AUTH_ERROR, result.error
    assert "no such key" in (result.error or "")
