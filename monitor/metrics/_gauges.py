"""The scrape-time gauges: offering states and the engines' rows (prices, routes, budget,
lifecycle ...), their names (DESIGN.md's table) and their cached exposition text."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar, cast

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.interfaces import Gauge, GaugeRow, State, StateRow
from monitor.metrics._detail import FULL, Detail
from monitor.metrics._text import _header, _label_text, _number

_T = TypeVar("_T")

#: number, this module the name (DESIGN.md's table; names never change once a board uses them)
GAUGES: dict[Gauge, tuple[str, str]] = {
    Gauge.PRICE: ("provmon_price_usd", "Current accepted listed price per unit, by source"),
    Gauge.PRICE_FETCH_SUCCESS: (
        "provmon_price_fetch_success",
        "1 if the last refresh of the source read every page",
    ),
    Gauge.PRICE_FETCH_LAST_SUCCESS: (
        "provmon_price_fetch_last_success_timestamp_seconds",
        "When every page of the source was last read successfully",
    ),
    Gauge.PRICE_STALE: (
        "provmon_price_stale",
        "1 when the offering's price from the source is older than its max age",
    ),
    Gauge.PRICE_DISAGREEMENT: (
        "provmon_price_disagreement",
        "1 when the offering's sources list prices further apart than the tolerance",
    ),
    Gauge.ROUTE_RANK: (
        "provmon_route_rank",
        "Rank of the offering in the model's route (1 first, 0 excluded)",
    ),
    Gauge.ROUTE_WEIGHT: (
        "provmon_route_weight",
        "Share of the model's traffic the route sends to the offering",
    ),
    Gauge.EFFECTIVE_COST: (
        "provmon_effective_cost_usd",
        "Listed price divided by success ratio, per successful unit",
    ),
    Gauge.BUDGET: ("provmon_probe_budget_usd", "Daily cap of paid probes, by scope"),
    Gauge.BUDGET_REMAINING: (
        "provmon_probe_budget_remaining_usd",
        "Money left today for paid probes, by scope",
    ),
    Gauge.DATABASE_UP: (
        "provmon_database_up",
        "1 while the database answers, 0 while it is away (results buffered)",
    ),
    Gauge.ACCOUNT_PROBLEM: (
        "provmon_offering_account_problem",
        "1 while the offering's latest answers say our account is at fault (key, billing, "
        "quota, permission): ours to fix, not the provider's outage",
    ),
    Gauge.STATUS_FEED_INCIDENT: (
        "provmon_status_feed_incident",
        "1 while a configured status feed lists an active incident covering the offering: "
        "a claim provmon confirms, never a state",
    ),
    Gauge.COST_PER_IMAGE: (
        "provmon_cost_per_image_usd",
        "What one image of the offering's probe request costs: basis=listed (rates x "
        "expected usage) or measured (the last answer's reported usage)",
    ),
    Gauge.LIFECYCLE: (
        "provmon_offering_lifecycle",
        "1 for the offering's lifecycle state (live, deprecated, retired, unlisted)",
    ),
    Gauge.SHUTDOWN_AT: (
        "provmon_model_shutdown_timestamp_seconds",
        "Known shutdown time of a model at a provider, from the catalog or a deprecation page",
    ),
    Gauge.CATALOG_UNLISTED: (
        "provmon_catalog_unlisted",
        "1 when the provider's own model listing lacks the offering",
    ),
    Gauge.CATALOG_NEW_MODELS: (
        "provmon_catalog_new_models",
        "Image models the provider lists that the catalog lacks",
    ),
    Gauge.LIFECYCLE_SOURCE_SUCCESS: (
        "provmon_lifecycle_source_success",
        "1 when the last read of the deprecation page parsed",
    ),
}

HELP_OF = dict(GAUGES.values())
_NAMES = {gauge: name for gauge, (name, _) in GAUGES.items()}

STATE_NAME = "provmon_offering_state"
STATE_HELP = (
    "1 for the offering's current health state (below detail full, the others are not "
    "exported; at full they are 0)"
)
_STATE_LABELS = ("offering", "provider", "model", "vantage")


class _StateCollector(Collector):
    def __init__(
        self,
        states: Callable[[], Iterable[StateRow]],
        states_version: Callable[[], object],
        extra: list[Callable[[], Iterable[GaugeRow]]],
        versions: list[Callable[[], object] | None],
    ) -> None:
        #: what is exported (monitor.metrics._detail); Metrics.configure replaces it
        self.detail: Detail = FULL
        self._states = states
        self._states_version = states_version
        self._extra = extra
        self._versions = versions
        #: per source ("states", or a gauge source's index): the version its lines were
        #: rendered at, and the lines
        self._blocks: dict[object, tuple[object, object]] = {}
        # label text cached per label set: a scrape formats values, not labels
        self._state_text: dict[tuple[str, ...], bytes] = {}
        #: per gauge label set: [its line's prefix, the value last shown, the line]
        self._gauge_text: dict[tuple[str, tuple[tuple[str, str], ...]], list[Any]] = {}

    def forget(self) -> None:
        """Drop every cached text (the detail changed)."""
        self._blocks.clear()
        self._state_text.clear()
        self._gauge_text.clear()

    def describe(self) -> list[Metric]:
        # describing without collecting: registration must not read engine state
        return [GaugeMetricFamily(STATE_NAME, "state", labels=[])]

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            STATE_NAME,
            STATE_HELP,
            labels=["offering", "provider", "model", "vantage", "state"],
        )
        zeros = self.detail.zeros
        for row in self._states():
            for state in State:
                if zeros or state == row.state:
                    family.add_metric(
                        [row.offering, row.provider, row.model, row.vantage, state.value],
                        1.0 if state == row.state else 0.0,
                    )
        yield family
        families: dict[str, GaugeMetricFamily] = {}
        for source in self._extra:
            for gauge in source():
                if not self.detail.keeps(gauge.name, gauge.value):
                    continue
                name, help_text = GAUGES[gauge.name]
                fam = families.get(name)
                if fam is None:
                    fam = GaugeMetricFamily(name, help_text, labels=list(gauge.labels))
                    families[name] = fam
                fam.add_metric(list(gauge.labels.values()), gauge.value)
        yield from families.values()

    def render(self, out: list[bytes]) -> None:
        """The same families as :meth:`collect`, written straight to text.

        Rows repeat from scrape to scrape, so each row's lines are kept by what they
        show (an offering and its state; a gauge's name, labels and value), and a source
        with a version is read again only when its version moves."""
        out.extend(self._cached("states", self._states_version(), self._state_lines))
        gauges: dict[str, list[bytes]] = {}
        for index, source in enumerate(self._extra):
            version = self._versions[index]
            stamp = version() if version is not None else None
            by_family = self._cached(index, stamp, functools.partial(self._lines, source))
            for name, lines in by_family.items():
                block = gauges.get(name)
                if block is None:
                    help_text = HELP_OF[name]
                    block = gauges[name] = [_header(name, help_text, "gauge")]
                block.extend(lines)
        for block in gauges.values():
            out.extend(block)

    def _cached(self, key: object, stamp: object, build: Callable[[], _T]) -> _T:
        """``build()``, or what it gave last time for ``key`` while ``stamp`` (a source's
        version; None: no version, build every time) has not moved."""
        cached = self._blocks.get(key)
        if stamp is None or cached is None or cached[0] != stamp:
            cached = self._blocks[key] = (stamp, build())
        return cast(_T, cached[1])

    def _state_lines(self) -> list[bytes]:
        texts: list[bytes] = [_header(STATE_NAME, STATE_HELP, "gauge")]
        state_text = self._state_text
        if len(state_text) > 100_000:  # label sets that left: forget them now and then
            state_text.clear()
        shown = list(State) if self.detail.zeros else None
        for row in self._states():
            key = (row.offering, row.provider, row.model, row.vantage, row.state.value)
            text = state_text.get(key)
            if text is None:
                pairs = list(zip(_STATE_LABELS, key, strict=False))
                text = state_text[key] = "".join(
                    f"{STATE_NAME}{{{_label_text([*pairs, ('state', s.value)])}}} "
                    f"{'1.0' if s == row.state else '0.0'}\n"
                    for s in (shown or (row.state,))
                ).encode()
            texts.append(text)
        return texts

    def _lines(self, source: Callable[[], Iterable[GaugeRow]]) -> dict[str, list[bytes]]:
        """One source's rows as sample lines by family: each label set's line is kept with
        the value it shows, and written again only when the value moved."""
        lines: dict[str, list[bytes]] = {}
        known = self._gauge_text
        if len(known) > 200_000:  # label sets that left: forget them now and then
            known.clear()
        detail = self.detail
        keeps = None if detail.zeros and not detail.dropped else detail.keeps
        names = _NAMES
        for gauge in source():
            value = gauge.value
            if keeps is not None and not keeps(gauge.name, value):
                continue
            name = names[gauge.name]
            key = (name, tuple(gauge.labels.items()))
            entry = known.get(key)
            if entry is None:
                labels = _label_text(key[1])
                labels = f"{{{labels}}}" if labels else ""
                entry = known[key] = [f"{name}{labels} ".encode(), None, b""]
            if entry[1] != value:
                entry[1], entry[2] = value, entry[0] + _number(value) + b"\n"
            block = lines.get(name)
            if block is None:
                block = lines[name] = []
            block.append(entry[2])
        return lines
