"""How much ``/metrics`` says: the detail levels of the ``metrics:`` config section.

Every series costs a Prometheus user money (hosted Prometheus bills per active series), so
the default exports what the routing board and the alert rules read, at the resolution
they need, and nothing per offering that only repeats what another series says
(README "Series budget" has the count per level):

- the duration histogram per offering only for ``phase="total"`` (the latency objective,
  the per-offering p95), with buckets for each kind's range;
- where a generation's time goes (connect, ttfb, queue, inference, download) per
  *provider*, as a sum and a count (a mean) in ``provmon_probe_phase_duration_seconds``:
  a provider's queue and network show there, at a cost that does not grow with its models
  (at most 10 series per provider); the tail is the total's. A control call's phases say
  nothing its total does not (its ttfb is its total, its connect the generation's);
- a control probe's failures counted as ``outcome="error"`` (the alert rules' error set;
  the rest of the outcomes kept): generations keep every outcome;
- one series for an offering's state and lifecycle (the current one, value 1), flags
  (stale price, disagreeing sources) only while raised.

``full`` is the exposition before the budget (every phase per offering, 15 buckets, every
outcome per kind, one-hot states with their zeros); ``minimal`` keeps what the alert rules
read and the board's routing, state, price and availability panels.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.config_sections import MetricsConfig
from monitor.interfaces import Gauge, Kind, Outcome, Phase

#: every bound of the full level (before issue 18): 10 ms .. 300 s
FULL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)

#: a generation takes ~1 s (a fast model) to minutes; 60 s is the latency objective's bound
#: (the alert rules read ``le="60.0"``); past 120 s the answer is "too slow" whatever it is
GENERATE_BUCKETS = (1, 2.5, 5, 10, 30, 60, 120)
#: a control call answers in tens to hundreds of milliseconds; seconds mean trouble
CONTROL_BUCKETS = (0.1, 0.5, 1, 2.5)

#: the outcomes the error-ratio rule (prometheus/alerts.yml) counts as errors: a control
#: probe's are folded into one ``error`` value below ``full`` (with content_filtered, which
#: a control call, sending no prompt, cannot meet; a count of it would be a wrong answer)
ERRORS = frozenset(
    {
        Outcome.TIMEOUT,
        Outcome.CONNECT_ERROR,
        Outcome.AUTH_ERROR,
        Outcome.BAD_REQUEST,
        Outcome.SERVER_ERROR,
        Outcome.INVALID_OUTPUT,
        Outcome.PROTOCOL_ERROR,
    }
)
FOLDED_ERROR = "error"

#: gauges that are flags: 1 raised, 0 not; below ``full`` a 0 is not exported (the flags
#: the alert rules and the board read keep their zeros, so their series always exist)
FLAGS = frozenset({Gauge.PRICE_STALE, Gauge.PRICE_DISAGREEMENT})
#: one-hot gauges (a 1 for the current state, 0 for the others): below ``full`` only the 1
ONE_HOT = frozenset({Gauge.LIFECYCLE})


@dataclass(frozen=True, kw_only=True)
class Detail:
    """What one detail level exports (see the module docstring)."""

    level: str
    #: bucket bounds of ``provmon_probe_duration_seconds{phase="total"}`` per kind; None:
    #: that kind's total is not a histogram per offering
    buckets: dict[Kind, tuple[float, ...] | None]
    #: "none", "provider" (the phase family) or "offering" (also every phase per offering)
    phases: str
    #: the kinds whose phases the phase family sums (a control call's ttfb is its total,
    #: and its connect is the generation's: the same host)
    phase_kinds: frozenset[Kind]
    #: control probes' error outcomes counted as ``error``; ``all_kinds``: generations too
    fold_control: bool
    fold_generate: bool
    #: one-hot state and lifecycle with their zeros, flags exported when 0
    zeros: bool
    #: gauges not exported at all
    dropped: frozenset[Gauge]
    #: ``provmon_probe_timeout_seconds`` per offering and kind
    timeouts: bool
    #: skip reasons created at start (0) rather than on the first skip
    skip_series_at_start: bool

    def outcome(self, kind: Kind, outcome: Outcome) -> str:
        """The ``outcome`` label value a result of ``kind`` is counted under."""
        if kind is Kind.GENERATE:
            folded = self.fold_generate and outcome in ERRORS
        else:
            folded = self.fold_control and (
                outcome in ERRORS or outcome is Outcome.CONTENT_FILTERED
            )
        return FOLDED_ERROR if folded else outcome.value

    def outcome_values(self, kind: Kind) -> list[str]:
        """The label values a result of ``kind`` can be counted under, in a fixed order."""
        return list(dict.fromkeys(self.outcome(kind, o) for o in Outcome))

    def phase_per_offering(self, phase: Phase) -> bool:
        return phase is Phase.TOTAL or self.phases == "offering"

    def keeps(self, name: Gauge, value: float) -> bool:
        """Whether a scrape-time gauge row is exported."""
        if name in self.dropped:
            return False
        return self.zeros or value != 0 or (name not in FLAGS and name not in ONE_HOT)


FULL = Detail(
    level="full",
    buckets={Kind.GENERATE: FULL_BUCKETS, Kind.CONTROL: FULL_BUCKETS},
    phases="offering",
    phase_kinds=frozenset(Kind),
    fold_control=False,
    fold_generate=False,
    zeros=True,
    dropped=frozenset(),
    timeouts=True,
    skip_series_at_start=True,
)
DEFAULT = Detail(
    level="default",
    buckets={Kind.GENERATE: GENERATE_BUCKETS, Kind.CONTROL: CONTROL_BUCKETS},
    phases="provider",
    phase_kinds=frozenset({Kind.GENERATE}),
    fold_control=True,
    fold_generate=False,
    zeros=False,
    dropped=frozenset({Gauge.COST_PER_IMAGE}),
    timeouts=False,
    skip_series_at_start=False,
)
MINIMAL = Detail(
    level="minimal",
    buckets={Kind.GENERATE: (5, 10, 30, 60, 120), Kind.CONTROL: None},
    phases="none",
    phase_kinds=frozenset(),
    fold_control=True,
    fold_generate=True,
    zeros=False,
    dropped=frozenset({Gauge.COST_PER_IMAGE, Gauge.PRICE_STALE, Gauge.PRICE_DISAGREEMENT}),
    timeouts=False,
    skip_series_at_start=False,
)
LEVELS = {d.level: d for d in (MINIMAL, DEFAULT, FULL)}


def detail_of(config: MetricsConfig) -> Detail:
    """The level ``config`` names, with its per-family overrides applied."""
    base = LEVELS[config.detail]
    buckets = dict(base.buckets)
    if config.generate_buckets is not None:
        buckets[Kind.GENERATE] = tuple(config.generate_buckets)
    if config.control_buckets is not None:
        buckets[Kind.CONTROL] = tuple(config.control_buckets) or None
    return Detail(
        level=base.level,
        buckets=buckets,
        phases=config.phases or base.phases,
        phase_kinds=base.phase_kinds,
        fold_control=base.fold_control if config.fold_outcomes is None else config.fold_outcomes,
        fold_generate=base.fold_generate,
        zeros=base.zeros,
        dropped=base.dropped,
        timeouts=base.timeouts if config.timeouts is None else config.timeouts,
        skip_series_at_start=base.skip_series_at_start,
    )


def series_counts(exposition: bytes | str) -> dict[str, int]:
    """Sample lines per family name in a text exposition (a histogram's ``_bucket``,
    ``_count`` and ``_sum`` lines count under its name: each is a series Prometheus
    stores)."""
    text = exposition.decode() if isinstance(exposition, bytes) else exposition
    counts: dict[str, int] = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        for suffix in ("_bucket", "_count", "_sum"):
            if name.endswith(suffix) and name.startswith("provmon_probe_"):
                name = name.removesuffix(suffix)
                break
        counts[name] = counts.get(name, 0) + 1
    return counts


def series_per_offering(exposition: bytes | str, offerings: int) -> float:
    """Every series in ``exposition`` divided by ``offerings``: what one offering costs a
    Prometheus user, the deployment's fixed series (per provider, per source, budget)
    shared out."""
    if offerings <= 0:
        raise ValueError("offerings must be positive")
    return round(sum(series_counts(exposition).values()) / offerings, 2)
