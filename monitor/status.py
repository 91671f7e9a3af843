"""The status page at ``/``: per model, each provider's state, prices, latency, availability
and route rank, for people without Grafana.

:func:`render_status` turns a :class:`StatusData` into one self-contained HTML page (inline
CSS, inline SVG charts, a few lines of inline JS, no external assets) that reloads itself
every ``refresh_seconds``. It is pure: the caller assembles the data (states from the health
engine, prices and routes from their engines, measurements from recent results through
:func:`summarise`); this module does no I/O.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypedDict

from monitor.interfaces import Kind, Phase
from monitor.outcomes import AVAILABILITY, Verdict, quantile
from monitor.status_assets import _CSS, _JS, availability_bars, format_seconds, sparkline
from monitor.windows import W1D, ResultLike, WindowBook, WindowStats
from monitor.windows import WINDOWS as ROUTING

#: availability windows shown on the page: routing's (as OpenRouter publishes uptime)
WINDOWS: dict[str, dt.timedelta] = {w.name: dt.timedelta(seconds=w.seconds) for w in ROUTING}


@dataclass(frozen=True, kw_only=True)
class OfferingStatus:
    """One offering's row on the page. ``None`` means "not known" and shows as a dash."""

    #: ``provider/model``, the offering id
    offering: str
    provider: str
    model: str
    #: a health state: ``unknown``, ``up``, ``degraded``, ``down`` or ``retired``
    state: str
    #: why the health engine holds that state (shown as the state's tooltip)
    reason: str = ""
    #: when the offering entered its state
    state_since: dt.datetime | None = None
    #: the listed price per ``price_unit`` (from the pricing sources, else the config)
    listed_price_usd: Decimal | None = None
    #: ``image``, ``megapixel`` or ``second``
    price_unit: str = "image"
    #: what one image cost by the usage the last answer reported (tokens, megapixels, or
    #: the provider's own cost), at the listed rates; None: no answer reported usage
    measured_cost_usd: Decimal | None = None
    #: the model family the page groups offerings by (the catalog's ``family``)
    family: str = ""
    #: listed price divided by the success ratio: what one good image costs
    effective_cost_usd: Decimal | None = None
    #: median and 95th percentile of the total time of successful generations, seconds
    p50_seconds: float | None = None
    p95_seconds: float | None = None
    #: success ratio per window (keys of :data:`WINDOWS`), 0..1
    availability: dict[str, float | None] = field(default_factory=dict)
    #: position in the model's route (1 first); ``None`` when not routed
    route_rank: int | None = None
    #: share of the model's traffic a weighted gateway sends here, 0..1
    route_weight: float | None = None
    #: median total time per time slice, oldest first (the latency chart); None: no data
    latency_trend: Sequence[float | None] = ()
    #: success ratio per time slice, oldest first (the availability chart)
    availability_trend: Sequence[float | None] = ()


@dataclass(frozen=True, kw_only=True)
class StatusData:
    """Everything the page shows; the caller assembles it at request time."""

    #: when the data was read (the page shows its age)
    generated_at: dt.datetime
    #: the agent's vantage label
    vantage: str
    offerings: Sequence[OfferingStatus]
    #: the page reloads itself after this many seconds
    refresh_seconds: int = 30
    #: the time the trend charts cover, for their caption
    trend_span: str = "24 h"
    title: str = "provmon status"
    #: why the database is away (one line), shown as a banner; None while it answers
    database_away: str | None = None
    #: lines above the tables: active status-feed incidents, upstream outages (issue 17)
    notices: Sequence[Notice] = ()


@dataclass(frozen=True, kw_only=True)
class Notice:
    """One line above the tables. ``kind`` is ``feed`` (a provider's status feed reports an
    incident: a claim, never a state) or ``upstream`` (an outage of several providers
    serving one upstream). ``text`` may quote a feed: it is escaped like every value."""

    kind: str
    text: str
    offerings: Sequence[str] = ()
    since: dt.datetime | None = None


def _notices(notices: Sequence[Notice], now: dt.datetime) -> str:
    if not notices:
        return ""
    e = html.escape
    items = "".join(
        f'<li data-notice="{e(n.kind)}">{e(n.text)}'
        + (f" · since {e(_age(n.since, now))}" if n.since else "")
        + (f' · <span class="covers">{e(", ".join(n.offerings))}</span>' if n.offerings else "")
        + "</li>"
        for n in notices
    )
    return f'<ul class="notices">{items}</ul>'


class Measured(TypedDict):
    """The measured fields of :class:`OfferingStatus`, as :func:`summarise` computes them."""

    p50_seconds: float | None
    p95_seconds: float | None
    availability: dict[str, float | None]
    latency_trend: list[float | None]
    availability_trend: list[float | None]


def _trend(
    results: Sequence[ResultLike], now: dt.datetime, span: dt.timedelta, slices: int
) -> tuple[list[float | None], list[float | None]]:
    """Median latency and success ratio per time slice, oldest first: one pass over the
    results (a status page request walks the whole day of every offering)."""
    start, width = (now - span).timestamp(), span.total_seconds() / slices
    counts = [[0, 0] for _ in range(slices)]  # successes, errors
    latencies: list[list[float]] = [[] for _ in range(slices)]
    for r in results:
        index = math.floor((r.started_at.timestamp() - start) / width)
        if not 0 <= index < slices:
            continue
        verdict = AVAILABILITY[r.outcome]
        if verdict == Verdict.SUCCESS:
            counts[index][0] += 1
            if (total := r.phases.get(Phase.TOTAL)) is not None:
                latencies[index].append(total)
        elif verdict == Verdict.ERROR:
            counts[index][1] += 1
    return (
        [quantile(values, 0.5) for values in latencies],
        [ok / (ok + bad) if ok + bad else None for ok, bad in counts],
    )


def _ratio(stats: WindowStats | None) -> float | None:
    return stats.success_ratio if stats is not None else None


def summarise(
    results: Iterable[ResultLike],
    *,
    now: dt.datetime,
    span: dt.timedelta = dt.timedelta(days=1),
    slices: int = 24,
    windows: Mapping[str, WindowStats] | None = None,
) -> Measured:
    """Latency, availability and trends of one offering from its recent results.

    Everything is routing's definition (``monitor.windows``, ``monitor.outcomes``
    ``AVAILABILITY``): generate probes only, successes ÷ (successes + errors), content
    filters left out, cancelled probes ignored; latency is the total time of successful
    generations. ``windows``: the offering's stats as routing last computed them (so the
    page shows what ``provmon_effective_cost_usd`` was computed from); without them they
    are computed from ``results``. Results older than ``span`` do not count in the trends.
    """
    keep = [r for r in results if r.kind == Kind.GENERATE and not r.cancelled]
    if windows is None:
        by_offering = WindowBook.of(keep).stats(now)
        windows = next(iter(by_offering.values())) if by_offering else {}
    day = windows.get(W1D.name)
    latency_trend, availability_trend = _trend(keep, now, span, slices)
    return Measured(
        p50_seconds=day.p50_s if day else None,
        p95_seconds=day.p95_s if day else None,
        availability={name: _ratio(windows.get(name)) for name in WINDOWS},
        latency_trend=latency_trend,
        availability_trend=availability_trend,
    )


# -- formatting ----------------------------------------------------------------------------


def format_usd(value: Decimal | None) -> str:
    if value is None:
        return "—"
    return f"${value:.3f}" if value >= Decimal("0.01") else f"${value:.4f}"


def format_ratio(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 1:
        return "100%"
    # floor, so that 99.96 % never shows as a perfect 100.0 %
    return f"{math.floor(value * 1000) / 10:.1f}%"


def _age(since: dt.datetime | None, now: dt.datetime) -> str:
    if since is None:
        return ""
    seconds = max(0, int((now - since).total_seconds()))
    if seconds < 120:
        return f"for {seconds} s"
    if seconds < 7200:
        return f"for {seconds // 60} min"
    return f"for {seconds // 3600} h"


# -- charts --------------------------------------------------------------------------------

_COLUMNS = (
    ("Route", "rank"),
    ("Provider", "name"),
    ("State", "name"),
    ("Listed price", ""),
    ("Measured / image", ""),
    ("Effective cost", ""),
    ("p50", ""),
    ("p95", ""),
    ("Avail. 5 m", ""),
    ("30 m", ""),
    ("1 d", ""),
    ("Latency trend", "name"),
    ("Availability trend", "name"),
)


def _cell(field_name: str, text: str, css: str = "", value: object = None) -> str:
    """One cell; ``value``: the exact number shown, as ``data-value`` (for machines)."""
    cls = f' class="{css}"' if css else ""
    raw = f' data-value="{value}"' if value is not None else ""
    return f'<td data-field="{field_name}"{cls}{raw}>{text}</td>'


def _row(item: OfferingStatus, now: dt.datetime) -> str:
    e = html.escape
    state = item.state if item.state in {"up", "degraded", "down", "retired"} else "unknown"
    rank = "—" if item.route_rank is None else f'<span class="rank">#{item.route_rank}</span>'
    if item.route_weight is not None and item.route_rank is not None:
        rank += f" · {item.route_weight * 100:.0f}%"
    badge = (
        f'<span class="badge s-{state}" title="{e(item.reason)}">{e(item.state)}</span>'
        f'<span class="since">{_age(item.state_since, now)}</span>'
    )
    unit = f" / {e(item.price_unit)}" if item.listed_price_usd is not None else ""
    cells = [
        _cell("route", rank),
        _cell("provider", e(item.provider), "name"),
        _cell("state", badge, "name"),
        _cell("listed_price", format_usd(item.listed_price_usd) + unit),
        _cell("measured_cost", format_usd(item.measured_cost_usd), "", item.measured_cost_usd),
        _cell("effective_cost", format_usd(item.effective_cost_usd), "", item.effective_cost_usd),
        _cell("p50", format_seconds(item.p50_seconds)),
        _cell("p95", format_seconds(item.p95_seconds)),
        *(
            _cell(f"availability_{w}", format_ratio(v := item.availability.get(w)), "", v)
            for w in WINDOWS
        ),
        _cell(
            "latency_trend",
            sparkline(item.latency_trend, label=f"median generation time, {item.offering}"),
            "chart",
        ),
        _cell(
            "availability_trend",
            availability_bars(item.availability_trend, label=f"availability, {item.offering}"),
            "chart",
        ),
    ]
    return (
        f'<tr data-offering="{e(item.offering)}" data-state="{e(item.state)}" '
        f'class="state-{state}">{"".join(cells)}</tr>'
    )


def _sort_key(item: OfferingStatus) -> tuple[int, int, str]:
    ranked = item.route_rank is not None
    return (0 if ranked else 1, item.route_rank or 0, item.provider)


def _model_section(model: str, items: list[OfferingStatus], now: dt.datetime) -> str:
    head = "".join(
        f'<th class="{css}">{html.escape(title)}</th>' if css else f"<th>{html.escape(title)}</th>"
        for title, css in _COLUMNS
    )
    rows = "".join(_row(item, now) for item in sorted(items, key=_sort_key))
    anchor = html.escape(model)
    return (
        f'<section data-model="{anchor}" id="{anchor}"><h2>{anchor}</h2>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></section>"
    )


def _families(models: dict[str, list[OfferingStatus]], now: dt.datetime) -> str:
    """Model sections grouped by family; models retired everywhere apart, at the end."""
    groups: dict[str, list[str]] = {}
    for model, items in models.items():
        gone = all(i.state == "retired" for i in items)
        groups.setdefault("" if gone else (items[0].family or model), []).append(model)
    out = []
    for family in sorted(groups, key=lambda f: (f == "", f)):
        title = family or "retired models"
        inner = "".join(_model_section(m, models[m], now) for m in sorted(groups[family]))
        out.append(
            f'<div class="family" data-family="{html.escape(family or "retired")}">'
            f'<h2 class="family">{html.escape(title)}</h2>{inner}</div>'
        )
    return "".join(out)


def render_status(data: StatusData) -> str:
    """The whole page as one HTML string; every value escaped, no external assets."""
    e = html.escape
    now = data.generated_at
    models: dict[str, list[OfferingStatus]] = {}
    for item in data.offerings:
        models.setdefault(item.model, []).append(item)
    counts = {s: 0 for s in ("up", "degraded", "down", "retired", "unknown")}
    for item in data.offerings:
        counts[item.state if item.state in counts else "unknown"] += 1
    summary = "".join(
        f'<span data-count="{state}"><span class="badge s-{state}">{state}</span> {n}</span>'
        for state, n in counts.items()
        if n
    )
    sections = _families(models, now)
    if not sections:
        sections = "<p>No offerings configured.</p>"
    stamp = now.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    away = (
        ""
        if data.database_away is None
        else f'<p class="away" data-database="away">The database is away, so this page shows '
        f"what provmon holds in memory: {e(data.database_away)}</p>"
    )
    return (
        "<!DOCTYPE html>"
        f'<html lang="en" data-generated="{now.isoformat()}" data-refresh="{data.refresh_seconds}">'
        '<head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="{data.refresh_seconds}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(data.title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{e(data.title)}</h1>"
        f'<span class="meta">vantage <b>{e(data.vantage)}</b> · {stamp} · '
        f'<span id="age">reloads every {data.refresh_seconds} s</span></span>'
        f'<span class="counts">{summary}</span></header>{away}{_notices(data.notices, now)}'
        f"<main>{sections}</main>"
        f"<footer>Latency: successful generations (phase total). Availability: successful "
        f"generations ÷ successful and failed ones (rate-limited ones failed, content-filtered "
        f"ones left out), as routing counts them. Trends cover the last "
        f'{e(data.trend_span)}. Prices in USD. Metrics: <a href="metrics">/metrics</a>, '
        f'API: <a href="api/state">/api/state</a>.</footer>'
        f"<script>{_JS}</script></body></html>"
    )
