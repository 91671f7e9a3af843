"""The status page's inline style, script and charts (no external assets: it works offline)."""

from __future__ import annotations

import html
from collections.abc import Sequence

_CSS = """
:root{--ok:#1a7f37;--warn:#b58100;--bad:#cf222e;--retired:#8250df;--muted:#656d76;
--line:#d0d7de;--bg:#f6f8fa}
*{box-sizing:border-box}
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;
background:#fff}
header{padding:14px 24px;background:var(--bg);border-bottom:1px solid var(--line);
display:flex;gap:24px;align-items:baseline;flex-wrap:wrap}
header h1{font-size:20px;margin:0}
header .meta{color:var(--muted)}
.counts span{margin-right:12px}
main{padding:8px 24px 24px}
section{margin-top:18px}
h2{font-size:16px;margin:0 0 6px;font-family:ui-monospace,monospace}
h2.family{font-size:18px;margin:18px 0 8px;font-family:inherit}
table{border-collapse:collapse;width:100%}
th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
th{font-weight:600;color:var(--muted);font-size:12px;background:var(--bg)}
td.name,th.name{text-align:left}
td.chart{padding:2px 8px}
.badge{display:inline-block;min-width:70px;text-align:center;border-radius:10px;padding:1px 8px;
color:#fff;font-weight:600;font-size:12px}
.s-up{background:var(--ok)}.s-degraded{background:var(--warn)}.s-down{background:var(--bad)}
.s-retired{background:var(--retired)}.s-unknown{background:var(--muted)}
.since{color:var(--muted);font-size:12px;margin-left:6px}
.rank{font-weight:700}
tr.state-down td{background:#ffebe9}
tr.state-retired td{color:var(--muted)}
.spark polyline{fill:none;stroke:#0969da;stroke-width:1.5}
.spark circle{fill:#0969da}
.bars .ok{fill:var(--ok)}.bars .warn{fill:var(--warn)}.bars .bad{fill:var(--bad)}
.bars{background:var(--bg)}
footer{color:var(--muted);padding:0 24px 16px;font-size:12px}
.notices{margin:12px 24px 0;padding:0;list-style:none}
.notices li{padding:6px 12px;margin-bottom:4px;border-left:4px solid var(--bad);background:#fff8c5}
.away{margin:12px 24px 0;padding:8px 12px;border:1px solid var(--bad);background:#ffebe9}
"""

_JS = """
(function(){
  var root=document.documentElement, at=Date.parse(root.dataset.generated);
  var every=parseInt(root.dataset.refresh,10), el=document.getElementById('age');
  function tick(){
    var age=Math.max(0,Math.round((Date.now()-at)/1000));
    el.textContent='updated '+age+' s ago; reloads every '+every+' s';
  }
  tick(); setInterval(tick,1000);
})();
"""


#: the charts' size, pixels
_W, _H = 120, 28


def format_seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.1f} s"
    return f"{value / 60:.1f} min"


def sparkline(values: Sequence[float | None], *, label: str) -> str:
    """A small line chart; gaps (None) break the line. Scaled from 0 to the maximum."""
    known = [v for v in values if v is not None]
    if not known:
        return (
            f'<svg class="spark" width="{_W}" height="{_H}" role="img">'
            f"<title>{html.escape(label)}: no data</title></svg>"
        )
    top = max(known) or 1.0
    step = _W / max(1, len(values) - 1)
    runs: list[list[str]] = [[]]
    for index, value in enumerate(values):
        if value is None:
            runs.append([])
            continue
        y = _H - 2 - (value / top) * (_H - 4)
        runs[-1].append(f"{index * step:.1f},{y:.1f}")
    lines = "".join(
        f'<polyline points="{" ".join(run)}"/>'
        if len(run) > 1
        else f'<circle cx="{run[0].split(",")[0]}" cy="{run[0].split(",")[1]}" r="1.5"/>'
        for run in runs
        if run
    )
    return (
        f'<svg class="spark" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" role="img">'
        f"<title>{html.escape(label)}, up to {format_seconds(top)}</title>{lines}</svg>"
    )


def _bar_colour(value: float) -> str:
    return "ok" if value >= 0.99 else "warn" if value >= 0.9 else "bad"


def availability_bars(values: Sequence[float | None], *, label: str) -> str:
    """One bar per time slice, as tall as its success ratio and coloured by it."""
    width = _W / max(1, len(values))
    bars = []
    for index, value in enumerate(values):
        if value is None:
            continue
        height = max(1.0, value * (_H - 2))
        bars.append(
            f'<rect class="{_bar_colour(value)}" x="{index * width:.1f}" y="{_H - height:.1f}" '
            f'width="{max(1.0, width - 1):.1f}" height="{height:.1f}"/>'
        )
    return (
        f'<svg class="bars" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" role="img">'
        f"<title>{html.escape(label)}</title>{''.join(bars)}</svg>"
    )


# -- the page ------------------------------------------------------------------------------
