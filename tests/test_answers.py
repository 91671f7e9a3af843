"""Real provider answers, replayed through the real probes over a socket.

Every file ``tests/fixtures/answers/<protocol>/<name>.json`` is one answer a provider has
given (quoted in its docs, its official SDK's code or tests, or a public issue thread), as
WireMock stub mappings, with the outcome provmon must give it. The catalog is aimed at the
simulator, the file's mappings replace the steps they match, the fakes answer the rest, and
the probe runs through the :class:`~monitor.runner.Runner` as in production.
``docs/answers.md`` is generated from the same files (``scripts/answers_table.py``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Literal

import httpx
import pytest
from pydantic import BaseModel, ConfigDict, field_validator

from monitor.config import load_config, point_at_simulator, simulator_credentials
from monitor.interfaces import Kind, Outcome
from monitor.runner import Runner
from monitor.sim.mappings import Mapping
from probes import PROBES
from tests.conftest import set_behaviour

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "fixtures" / "answers"
CATALOGS = ROOT / "monitor" / "catalog"
FILES = sorted(CORPUS.glob("*/*.json"))
#: quick fake jobs, so the steps a file does not replace finish fast
FAST = {"ttfb": {"fixed": 0.0}, "queue": {"fixed": 0.1}, "inference": {"fixed": 0.1}}


class Expect(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    outcome: Outcome
    error_contains: str | None = None


class Answer(BaseModel):
    """One corpus file (the format is shared by every protocol's corpus)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str
    source: str
    offering: str
    catalog: str = "imagen4.yaml"
    kind: Literal["generate", "control"] = "generate"
    mappings: list[Mapping]
    expect: Expect

    @field_validator("description")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if not value.strip() or "\n" in value:
            raise ValueError("description must be one non-empty line")
        return value

    @field_validator("source")
    @classmethod
    def _public(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError("source must be a public https:// URL")
        return value


def load(path: Path) -> Answer:
    return Answer.model_validate_json(path.read_text(encoding="utf-8"))


def post_mappings(sim_url: str, mappings: list[Mapping]) -> None:
    for mapping in mappings:
        posted = httpx.post(
            f"{sim_url}/_sim/mappings", content=mapping.model_dump_json(exclude_none=True)
        )
        assert posted.status_code == 201, posted.text


def test_the_corpus_is_there() -> None:
    protocols = {p.parent.name for p in FILES}
    assert {"fal", "replicate"} <= protocols
    for protocol in ("fal", "replicate"):
        assert sum(p.parent.name == protocol for p in FILES) >= 8


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.stem}" for p in FILES])
async def test_a_real_answer_gets_the_right_outcome(
    path: Path, sim_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = load(path)
    assert path.parent.name in PROBES, f"{path.parent.name} is not a protocol in PROBES"
    base = load_config(CATALOGS / answer.catalog)
    for name, value in simulator_credentials(base).items():
        monkeypatch.setenv(name, value)
    config = point_at_simulator(base, sim_url)
    assert answer.offering in config.offerings, f"{answer.offering} not in {answer.catalog}"
    provider = config.providers[config.provider_of(answer.offering)]
    assert provider.protocol == path.parent.name, "file is under the wrong protocol"
    set_behaviour(sim_url, "*", latency=FAST)
    post_mappings(sim_url, answer.mappings)
    runner = Runner(config)
    try:
        result = await runner.run_probe(answer.offering, Kind(answer.kind))
    finally:
        await runner.aclose()
    assert result.outcome == answer.expect.outcome, result.error
    if answer.expect.error_contains is not None:
        assert answer.expect.error_contains in (result.error or ""), result.error


def test_the_answers_table_in_docs_is_up_to_date() -> None:
    checked = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "answers_table.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
