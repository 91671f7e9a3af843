"""The command line as a person uses it: a real process, one clear line on every failure."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.servers import free_port
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


def test_demo_honours_provmon_database_url(tmp_path: Path) -> None:
    """The demo stores in the PostgreSQL ``PROVMON_DATABASE_URL`` names (so that path can be
    tried, and faulted, in one command), and never prints its password."""
    import signal

    import httpx

    from monitor.servers import free_port
    from monitor.store import Store
    from tests.conftest import fresh_postgres_schema, postgres_url, wait_for

    base = postgres_url()
    assert base is not None
    url = fresh_postgres_schema(base).replace("postgres@", "postgres:demo-s3cret@", 1)
    port = free_port()
    env = {**os.environ, "PROVMON_DATABASE_URL": url, "COLUMNS": "250"}
    proc = subprocess.Popen(
        [*PROVMON, "demo", "--for", "120", "--port", str(port), "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    store = Store(url)
    try:

        def stored() -> int:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/api/probes", timeout=5)
            except httpx.HTTPError:
                return 0
            return len(answer.json()) if answer.status_code == 200 else 0

        wait_for(stored, 60)
        assert store.count_results() >= 1  # the demo's results are in PostgreSQL ...
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
        store.dispose()
    assert not (tmp_path / "provmon.db").exists()  # ... and no SQLite was made
    assert "127.0.0.1" in output and "demo-s3cret" not in output, output
    assert proc.returncode == 0, output


# -- issue 13: operator mistakes, each one line and exit 2 -----------------------------------


def test_a_port_already_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = provmon("demo", "--port", str(port), "--for", "5", "--data-dir", str(tmp_path))
        sim = provmon("simulate", "--port", str(port))
    assert_one_clear_line(proc, f"cannot listen on 127.0.0.1:{port}", "already in use")
    assert_one_clear_line(sim, f"cannot listen on 127.0.0.1:{port}", "already in use")


def test_a_config_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(
        (FIXTURES / "valid-minimal.yaml").read_bytes() + "# caf\xe9\n".encode("latin-1")
    )
    assert_one_clear_line(provmon("check-config", str(path)), "not UTF-8")


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("notaurl", "PROVMON_DATABASE_URL is not a database URL"),
        ("mysql://u:pw@127.0.0.1/x", "unsupported database 'mysql'"),
        ("sqlite:///", "in-memory SQLite database: nothing would be kept"),
        ("sqlite://", "in-memory SQLite database"),
    ],
)
def test_a_bad_database_url_is_one_line(url: str, needle: str) -> None:
    proc = provmon("db", "upgrade", env={"PROVMON_DATABASE_URL": url})
    assert_one_clear_line(proc, needle)
    assert "pw@" not in proc.stderr


def test_an_unknown_log_level_is_one_line(tmp_path: Path) -> None:
    proc = provmon(
        "db", "upgrade", env={"PROVMON_LOG_LEVEL": "verbose", "PROVMON_DATA_DIR": str(tmp_path)}
    )
    assert_one_clear_line(proc, "PROVMON_LOG_LEVEL must be one of debug, info")


def test_an_unknown_http_backend_is_one_line(tmp_path: Path) -> None:
    proc = provmon(
        "db", "upgrade", env={"PROVMON_HTTP_BACKEND": "trio", "PROVMON_DATA_DIR": str(tmp_path)}
    )
    assert_one_clear_line(proc, "PROVMON_HTTP_BACKEND must be one of asyncio, anyio")


def test_an_unwritable_data_dir_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    proc = provmon("db", "upgrade", env={"PROVMON_DATA_DIR": str(blocker / "data")})
    assert_one_clear_line(proc, "PROVMON_DATA_DIR", "cannot write there")


def test_a_simulator_that_is_not_a_url_is_one_line() -> None:
    proc = provmon("probe", "lumenfall/imagen-4.0-generate-001", "--simulator", "notaurl")
    assert_one_clear_line(proc, "--simulator must be the simulator's http(s) URL")


@pytest.mark.parametrize(
    ("fixture", "needle"),
    [
        ("invalid-duplicate-key.yaml", "duplicate key 'p1/m1'"),
        ("invalid-retired-after.yaml", "models.m1.retired_after: must be a date"),
        ("invalid-url-credentials.yaml", "providers.p1.base_url: credentials in the URL"),
    ],
)
def test_config_mistakes_are_one_line(fixture: str, needle: str) -> None:
    proc = provmon("check-config", str(FIXTURES / fixture))
    assert_one_clear_line(proc, needle)
    assert "hunter2" not in proc.stderr


def test_a_50_mb_config_is_refused_at_once_in_one_short_line(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("w") as handle:
        handle.write("offerings:\n")
        for index in range(1_000_000):
            handle.write(f"  p{index}/m: {{provider_model: {'x' * 30}}}\n")
    assert path.stat().st_size > 50_000_000
    proc = provmon("check-config", str(path))
    assert_one_clear_line(proc, "larger than 4 MiB")
    assert len(proc.stderr) < 300


def test_vertex_without_application_default_credentials_is_refused_at_start(
    tmp_path: Path,
) -> None:
    config = tmp_path / "vertex.yaml"
    config.write_text(
        "models: {m1: {}}\n"
        "providers:\n"
        "  vertex:\n"
        "    protocol: vertex\n"
        "    base_url: https://us-central1-aiplatform.googleapis.com\n"
        "    credential_env: GOOGLE_APPLICATION_CREDENTIALS\n"
        "    credential_required: false\n"
        "    options: {auth: oauth, project: p}\n"
        "offerings:\n"
        "  vertex/m1: {provider_model: m1, expect: {width: 1024, height: 1024}}\n"
    )
    env = {
        "HOME": str(tmp_path),
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
        "GOOGLE_APPLICATION_CREDENTIALS": "",
        "NO_GCE_CHECK": "True",  # google-auth: do not wait on a metadata server
        "PROVMON_DATA_DIR": str(tmp_path / "data"),
    }
    proc = provmon("run", "--config", str(config), env=env)
    assert_one_clear_line(proc, "unusable credential", "providers.vertex", "gcloud auth")


def test_route_without_any_result_refuses_unless_allowed(tmp_path: Path) -> None:
    env = {"PROVMON_DATA_DIR": str(tmp_path)}
    proc = provmon("route", "--format", "litellm", env=env)
    assert_one_clear_line(proc, "no probe results", "no evidence", "--allow-empty")
    assert proc.stdout == ""
    allowed = provmon("route", "--format", "litellm", "--allow-empty", env=env)
    assert allowed.returncode == 0 and "model_list" in allowed.stdout
    assert allowed.stderr.startswith("provmon: warning: no probe results")


# -- issue 13: newcomer friction ---------------------------------------------------------


def test_the_demo_banner_names_the_status_page_and_keeps_urls_whole(tmp_path: Path) -> None:
    port, sim_port = free_port(), free_port()
    env = {"COLUMNS": "40", "PROVMON_PASSIVE_TOKEN": "", "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    proc = provmon(
        "demo",
        "--for",
        "3",
        "--port",
        str(port),
        "--sim-port",
        str(sim_port),
        "--data-dir",
        str(tmp_path / "data"),
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.split() == ["status", "page", f"http://127.0.0.1:{port}/"] for line in lines)
    assert any(f"http://127.0.0.1:{sim_port}/_sim/behaviour" in line for line in lines)
    assert any("set PROVMON_PASSIVE_TOKEN" in line for line in lines)
    assert "skipped" not in proc.stderr
    assert list((tmp_path / "tmp").iterdir()) == []  # no temporary folder left behind
    assert (tmp_path / "data" / "provmon.db").exists()


def test_prices_show_never_cuts_an_offering_id(tmp_path: Path) -> None:
    imagen4 = str(Path(__file__).parents[1] / "monitor" / "catalog" / "imagen4.yaml")
    env = {"COLUMNS": "80", "PROVMON_DATA_DIR": str(tmp_path)}
    proc = provmon("prices", "show", "--config", imagen4, env=env)
    assert proc.returncode == 0, proc.stderr
    for offering in ("replicate/imagen-4.0-ultra-generate-001", "gemini/imagen-4.0-generate-001"):
        assert offering in proc.stdout
    assert "…" not in proc.stdout
