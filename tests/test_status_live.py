"""The status page of a running demo, in headless Chromium: every offering, live numbers."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx

from monitor.catalogs import load_catalog
from tests.conftest import sample, wait_for
from tests.test_status_page import _chromium, _Rows

SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "status-page.png"


def test_the_live_status_page_shows_every_default_offering_with_numbers(  # type: ignore[no-untyped-def]
    demo, tmp_path: Path
) -> None:
    url, _, _ = demo
    offerings = load_catalog("imagen4").enabled_offerings()

    def every_offering_generated() -> bool:
        metrics = httpx.get(url + "/metrics").text
        return all(
            sample(metrics, "provmon_probes_total", offering=o, kind="generate", outcome="ok") >= 1
            for o in offerings
        )

    wait_for(every_offering_generated, 60)
    time.sleep(6)  # one routing evaluation after the last first result
    dom = _chromium("--dump-dom", url + "/", tmp=tmp_path).stdout
    parser = _Rows()
    parser.feed(dom)
    assert set(parser.rows) == set(offerings)
    for offering, row in parser.rows.items():
        assert row["data-state"] == "up", (offering, row)
        assert row["listed_price"].startswith("$0.0"), (offering, row)
        assert row["p50"].endswith((" s", " ms")), (offering, row)
        assert row["availability_5m"].endswith("%"), (offering, row)
        assert row["route"].startswith("#"), (offering, row)
    shot = tmp_path / "live.png"
    _chromium(f"--screenshot={shot}", url + "/", tmp=tmp_path)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("PROVMON_UPDATE_SCREENSHOT"):
        SCREENSHOT.write_bytes(shot.read_bytes())
