"""The store, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace
from decimal import Decimal

import pytest

from monitor.interfaces import (
    ImageInfo,
    Kind,
    Outcome,
    Phase,
    PriceQuote,
    PriceUnit,
    ProbeResult,
    Usage,
)
from monitor.store import Store, StoreError

T0 = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


def make_result(
    offering: str = "lumenfall/imagen-4.0-generate-001",
    *,
    minutes: int = 0,
    outcome: Outcome = Outcome.OK,
    kind: Kind = Kind.GENERATE,
) -> ProbeResult:
    return ProbeResult(
        probe_id=str(uuid.uuid4()),
        offering=offering,
        provider=offering.split("/")[0],
        model=offering.split("/")[1],
        vantage="eu-west",
        kind=kind,
        outcome=outcome,
        started_at=T0 + dt.timedelta(minutes=minutes),
        phases={Phase.CONNECT: 0.004, Phase.TTFB: 1.25, Phase.DOWNLOAD: 0.3, Phase.TOTAL: 1.6},
        failed_phase=Phase.TTFB if outcome == Outcome.TIMEOUT else None,
        http_status=200,
        provider_request_id="req_abc",
        image=ImageInfo(mime="image/png", width=1024, height=1024, size_bytes=12345),
        cost_usd=Decimal("0.04"),
        error=None if outcome == Outcome.OK else "HTTP 500",
    )


def test_a_result_round_trips_with_every_field(store: Store) -> None:
    result = make_result()
    assert store.save_result(result)
    [back] = store.recent_results()
    assert back == result
    assert back.started_at.tzinfo is not None
    assert back.cost_usd == Decimal("0.04")


def test_usage_measured_cost_and_served_model_round_trip(store: Store) -> None:
    usage = Usage(output_image_tokens=1120, output_text_tokens=12, reported_cost_usd=None)
    result = replace(
        make_result(),
        usage=usage,
        measured_cost_usd=Decimal("0.033744"),
        served_model="gemini-nano-banana-2.1-001",
    )
    assert store.save_result(result)
    [back] = store.recent_results()
    assert back.usage == usage
    assert back.measured_cost_usd == Decimal("0.033744")
    assert back.served_model == "gemini-nano-banana-2.1-001"


def test_saving_the_same_probe_twice_stores_it_once(store: Store) -> None:
    result = make_result()
    assert store.save_result(result)
    assert not store.save_result(result)
    assert store.count_results() == 1


def test_recent_results_filter_and_order_newest_first(store: Store) -> None:
    for minute in range(5):
        store.save_result(make_result(minutes=minute))
    store.save_result(
        make_result("fal/imagen-4.0-generate-001", minutes=9, outcome=Outcome.TIMEOUT)
    )
    store.save_result(make_result(minutes=7, kind=Kind.CONTROL))
    rows = store.recent_results(offering="lumenfall/imagen-4.0-generate-001", kind="generate")
    assert [r.started_at.minute for r in rows] == [4, 3, 2, 1, 0]
    [timeout] = store.recent_results(outcome="timeout")
    assert timeout.failed_phase == Phase.TTFB
    assert len(store.recent_results(since=T0 + dt.timedelta(minutes=3))) == 4
    assert len(store.recent_results(limit=2)) == 2


def test_price_quotes_keep_exact_decimals_and_evidence(store: Store) -> None:
    quote = PriceQuote(
        offering="fal/imagen-4.0-generate-001",
        amount=Decimal("0.0398"),
        currency="USD",
        unit=PriceUnit.IMAGE,
        source="litellm_json",
        observed_at=T0,
        evidence='"output_cost_per_image": 0.0398',
        source_url="https://example.test/p.json",
    )
    store.save_quotes([quote], content_hash="abc123")
    [row] = store.price_history()
    assert Decimal(row.amount) == Decimal("0.0398")
    assert row.evidence == quote.evidence
    assert row.content_hash == "abc123"


def test_upgrade_is_idempotent(store: Store) -> None:
    store.upgrade()
    store.check()


def test_an_unreachable_database_is_one_clear_error_without_password() -> None:
    s = Store("postgresql://provmon:s3cret-pw@127.0.0.1:1/provmon")
    with pytest.raises(StoreError) as info:
        s.check()
    message = str(info.value)
    assert "s3cret-pw" not in message
    assert "unavailable" in message
    assert "\n" not in message


def _every_store_call(result: ProbeResult) -> dict[str, object]:
    """One call of every public Store operation (reads and writes), by name."""
    from monitor.health import IncidentAction, IncidentEvent, State
    from monitor.store import FetchStateRow

    day = T0.date()
    quote = PriceQuote(
        offering=result.offering,
        amount=Decimal("0.04"),
        currency="USD",
        unit=PriceUnit.IMAGE,
        source="fal_page",
        observed_at=T0,
        evidence="$0.04",
    )
    event = IncidentEvent(
        action=IncidentAction.OPEN,
        offering=result.offering,
        vantage="eu-west",
        state=State.DOWN,
        reason="3 failures",
        at=T0,
    )
    return {
        "upgrade": lambda s: s.upgrade(),
        "check": lambda s: s.check(),
        "save_result": lambda s: s.save_result(result),
        "save_results": lambda s: s.save_results([result]),
        "recent_results": lambda s: s.recent_results(),
        "count_results": lambda s: s.count_results(),
        "save_quotes": lambda s: s.save_quotes([quote]),
        "price_history": lambda s: s.price_history(),
        "take_lease": lambda s: s.take_lease("p", "me", now=T0, ttl=dt.timedelta(seconds=9)),
        "release_lease": lambda s: s.release_lease("p", "me"),
        "fetch_states": lambda s: s.fetch_states(),
        "save_fetch_state": lambda s: s.save_fetch_state(FetchStateRow(url="u", source="x")),
        "latest_price_events": lambda s: s.latest_price_events(),
        "save_price_removed": lambda s: s.save_price_removed(
            offering=result.offering,
            source="x",
            observed_at=T0,
            source_url="u",
            evidence="",
            content_hash="",
        ),
        "reserve_spend": lambda s: s.reserve_spend(
            reservation_id="r",
            day=day,
            offering=result.offering,
            provider="p",
            agent="a",
            amount_micro=1,
            global_cap_micro=None,
            offering_cap_micro=None,
            now=T0,
            expire_before=T0,
        ),
        "settle_spend": lambda s: s.settle_spend("r", billed=True, now=T0),
        "spend_by_offering": lambda s: s.spend_by_offering(day),
        "spend_rows": lambda s: s.spend_rows(day),
        "save_incident_events": lambda s: s.save_incident_events([event]),
        "incidents": lambda s: s.incidents(),
        # history (issue 18; tested in tests/test_prune.py)
        "roll_up": lambda s: s.roll_up(T0),
        "prune": lambda s: s.prune(T0, raw_days=14),
        "rollups": lambda s: s.rollups(),
        "history": lambda s: s.history(T0 - dt.timedelta(days=30), T0),
        "leases_named": lambda s: s.leases_named("probe-shard:"),
        "claim_leases": lambda s: s.claim_leases(
            ["probe-shard:v:0"], "a", now=T0, ttl=dt.timedelta(seconds=15)
        ),
        "expire_leases": lambda s: s.expire_leases(["probe-shard:v:0"], "a", now=T0),
        "forget_leases": lambda s: s.forget_leases("agent:", ended_before=T0),
    }


def test_every_store_operation_is_listed_here() -> None:
    public = {n for n in dir(Store) if not n.startswith("_") and callable(getattr(Store, n))}
    assert public - {"dispose"} == set(_every_store_call(make_result()))


@pytest.mark.parametrize("name", sorted(_every_store_call(make_result())))
def test_every_store_operation_raises_store_error_when_the_database_is_away(
    name: str,
) -> None:
    """Reads and writes alike: the web layer's ``except StoreError`` answers 503, never 500."""
    s = Store("postgresql://provmon:s3cret-pw@127.0.0.1:1/provmon")
    with pytest.raises(StoreError) as info:
        _every_store_call(make_result())[name](s)  # type: ignore[operator]
    assert "s3cret-pw" not in str(info.value)
    assert s.away == str(info.value)
    s.dispose()


def test_a_working_operation_clears_the_away_reason(store: Store) -> None:
    store.away = "database x unavailable: gone"
    assert store.recent_results() == []
    assert store.away is None
