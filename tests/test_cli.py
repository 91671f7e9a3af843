"""The command line as a person uses it: a real process, one clear line on every failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import set_behaviour

FIXTURES = Path(__file__).parent / "fixtures" / "config"
PROVMON = [sys.executable, "-m", "monitor.cli"]


def provmon(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    full_env.update(env or {})
    return subprocess.run(
        [*PROVMON, *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )


def assert_one_clear_line(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("provmon: error: ")
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0]


def test_check_config_accepts_the_catalog() -> None:
    proc = provmon("check-config")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok: ")


def test_check_config_rejects_an_invalid_file_naming_the_key() -> None:
    proc = provmon("check-config", str(FIXTURES / "invalid-unknown-key.yaml"))
    assert_one_clear_line(proc, "providers.p1.retries: unknown key")


def test_check_config_prints_a_json_schema() -> None:
    proc = provmon("check-config", "--schema")
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["title"] == "Config"


def test_run_with_a_missing_credential_says_which_variable() -> None:
    proc = provmon("run", "--config", str(FIXTURES / "valid-minimal.yaml"))
    assert_one_clear_line(proc, "missing credential", "P1_KEY")


def test_run_with_an_unreachable_database_is_one_line_without_the_password() -> None:
    proc = provmon(
        "run",
        "--config",
        str(FIXTURES / "valid-minimal.yaml"),
        env={"P1_KEY": "k", "PROVMON_DATABASE_URL": "postgresql://u:hunter22@127.0.0.1:1/x"},
    )
    assert_one_clear_line(proc, "unavailable")
    assert "hunter22" not in proc.stderr


def test_db_upgrade_creates_the_sqlite_database(tmp_path: Path) -> None:
    proc = provmon("db", "upgrade", env={"PROVMON_DATA_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "provmon.db").exists()


def test_probe_prints_a_result_from_the_simulator(sim_url: str) -> None:
    proc = provmon(  # an offering of the default (live) catalog
        "probe",
        "fal/flux-2-pro",
        "--kind",
        "generate",
        "--json",
        "--simulator",
        sim_url,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["outcome"] == "ok"
    assert result["image"]["width"] == 1024


def test_probe_exits_non_zero_when_the_probe_fails(sim_url: str) -> None:
    set_behaviour(sim_url, "fal:fal-ai/flux-2-pro", outage="error")
    proc = provmon(
        "probe",
        "fal/flux-2-pro",
        "--kind",
        "generate",
        "--json",
        "--simulator",
        sim_url,
    )
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["outcome"] == "server_error"


def test_probe_of_an_unknown_offering_is_one_line() -> None:
    proc = provmon("probe", "nobody/nothing")
    assert_one_clear_line(proc, "unknown offering 'nobody/nothing'")
