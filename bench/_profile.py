"""py-spy over a running process: where a benchmark's agent spends its CPU.

``bench/agent_cpu.py`` samples the agent after its measurement, when py-spy is installed
(``pip install py-spy``, or ``PY_SPY=/path/to/py-spy``), and keeps the top functions by own
and by inclusive share, and by innermost provmon function, in its result file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any


def py_spy() -> str | None:
    return (
        os.environ.get("PY_SPY")
        or shutil.which("py-spy")
        or next(
            (str(p) for p in [Path(sys.executable).parent / "py-spy"] if p.exists()),
            None,
        )
    )


def profile(pid: int, seconds: float, folder: str, keep: str | None = None) -> dict[str, Any]:
    """``py-spy`` over the agent for ``seconds``: the top functions by own and inclusive
    share of the samples (all threads, idle excluded)."""
    binary = py_spy()
    if binary is None:
        return {"skipped": "py-spy is not installed (pip install py-spy)"}
    out = Path(folder) / "profile.txt"
    done = subprocess.run(
        [
            *(binary, "record", "--pid", str(pid), "--duration", str(int(seconds))),
            *("--rate", "200", "--function", "--format", "raw", "--nonblocking"),
            *("--output", str(out)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not out.exists():
        return {"skipped": f"py-spy failed: {done.stderr.strip()[-300:]}"}
    if keep:
        shutil.copyfile(out, keep)
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    #: each sample charged to the innermost provmon function on its stack
    provmon: Counter[str] = Counter()
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_short(f) for f in stack.split(";")]
        if frames:
            own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
        ours = [f for f in frames if f.split(" (")[-1].startswith("monitor/")]
        provmon[ours[-1] if ours else "(outside provmon: event loop, threads)"] += n
    if not total:
        return {"skipped": "py-spy took no samples"}
    top_inclusive = [
        (f, n) for f, n in inclusive.most_common(200) if "monitor/" in f or "sqlalchemy" in f
    ][:25]
    return {
        "seconds": seconds,
        "samples": total,
        "own_top": [{"function": f, "share": round(n / total, 3)} for f, n in own.most_common(25)],
        "inclusive_top": [{"function": f, "share": round(n / total, 3)} for f, n in top_inclusive],
        "innermost_provmon_top": [
            {"function": f, "share": round(n / total, 3)} for f, n in provmon.most_common(25)
        ],
    }


def _short(frame: str) -> str:
    return frame.split("site-packages/")[-1].replace(str(Path.cwd()) + "/", "")
