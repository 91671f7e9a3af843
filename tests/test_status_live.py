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
    """Issue 15's demo: every live offering ``ok`` within 90 s across its providers, the
    Imagen 4 offerings ``retired`` apart from them, offerings grouped by family with the
    listed and the measured cost per image."""
    url, _, _ = demo
    live = load_catalog("live")
    offerings = live.enabled_offerings()
    retired = load_catalog("imagen4").enabled_offerings()
    assert len({live.provider_of(o) for o in offerings}) >= 6

    def every_offering_generated() -> bool:
        metrics = httpx.get(url + "/metrics").text
        return all(
            sample(metrics, "provmon_probes_total", offering=o, kind="generate", outcome="ok") >= 1
            for o in offerings
        )

    wait_for(every_offering_generated, 90)
    time.sleep(6)  # one routing evaluation after the last first result
    dom = _chromium("--dump-dom", url + "/", tmp=tmp_path).stdout
    parser = _Rows()
    parser.feed(dom)
    assert set(parser.rows) == set(offerings) | set(retired)
    for offering in offerings:
        row = parser.rows[offering]
        assert row["data-state"] == "up", (offering, row)
        assert row["listed_price"].startswith("$0."), (offering, row)
        assert row["p50"].endswith((" s", " ms")), (offering, row)
        assert row["availability_5m"].endswith("%"), (offering, row)
        assert row["route"].startswith("#"), (offering, row)
    # token-billed answers report usage: their measured cost per image is shown
    assert parser.rows["gemini/gemini-3-pro-image"]["measured_cost"].startswith("$0.1")
    for offering in retired:
        assert parser.rows[offering]["data-state"] == "retired", offering
    families = {f for f in ("gemini-image", "gpt-image", "flux-2", "seedream", "retired")}
    for family in families:
        assert f'data-family="{family}"' in dom, family
    shot = tmp_path / "live.png"
    _chromium(f"--screenshot={shot}", url + "/", tmp=tmp_path)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("PROVMON_UPDATE_SCREENSHOT"):
        SCREENSHOT.write_bytes(shot.read_bytes())
