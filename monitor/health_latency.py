"""Latency in the health engine: which answers are slow and when a slowdown holds or ends.

Pure functions of a tier's recent latencies (:class:`~monitor.health_model.TierState`):
an answer is slow over the latency objective or, for generations, far over the
offering's usual latency; a tier is slow while most of its last answers were; a few fast
answers in a row end a slowdown (issue 17, lever 4). :mod:`monitor.health` steps them.
"""

from __future__ import annotations

from monitor.health_model import HealthPolicy, State, TierState
from monitor.outcomes import quantile


def is_slow(policy: HealthPolicy, tier: TierState, latency: float, kind: str) -> bool:
    """Over the objective, or (generate answers) far over the offering's usual latency."""
    objective, factor = policy.latency_objective_s, policy.latency_baseline_factor
    if objective is not None and latency > objective:
        return True
    usual = tier.usual_s
    if factor is None or kind == "control" or usual is None:
        return False
    known = tier.usual_n >= policy.latency_baseline_samples
    return known and latency > factor * usual and latency - usual > policy.latency_baseline_margin_s


def slow_flags(tier: TierState) -> tuple[bool, ...]:
    """The slow flags of a tier's latencies (judged by the objective if it has none)."""
    if len(tier.slow) == len(tier.latencies):
        return tier.slow
    return tuple(False for _ in tier.latencies)


def forget_slow_spell(
    policy: HealthPolicy,
    tier: TierState,
    latencies: tuple[float, ...],
    flags: tuple[bool, ...],
) -> tuple[tuple[float, ...], tuple[bool, ...]]:
    """After a slowdown, ``latency_recover_samples`` fast answers in a row end it: the
    slow latencies before them are dropped instead of waiting to leave the window."""
    keep = max(1, policy.latency_recover_samples)
    if tier.state != State.DEGRADED or len(latencies) < keep or any(flags[-keep:]):
        return latencies, flags
    return latencies[-keep:], flags[-keep:]


def slow_reason(policy: HealthPolicy, tier: TierState) -> str | None:
    """Why the tier is slow: most of its last answers (at least ``latency_min_samples``)
    were over the objective or far over the usual latency; None when it is not."""
    flags = slow_flags(tier)
    count = sum(flags)
    if len(flags) < policy.latency_min_samples or count * 2 <= len(flags):
        return None
    value = quantile(tier.latencies, policy.latency_quantile) or 0.0
    objective = policy.latency_objective_s
    usual = f", usually {tier.usual_s:.1f}s" if tier.usual_s is not None else ""
    limit = f", the objective {objective:.1f}s" if objective is not None else ""
    return (
        f"{count} of the last {len(flags)} answers slow (p{policy.latency_quantile * 100:.0f} "
        f"{value:.1f}s{usual}{limit})"
    )
