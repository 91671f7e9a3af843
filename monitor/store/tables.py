"""The tables of the store (SQLModel rows, Alembic migrates them) and the conversions
between rows and values. Money is stored exactly: probe costs and spend as integer
micro-dollars, listed prices as decimal text."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from monitor.interfaces import ImageInfo, Kind, Outcome, Phase, ProbeResult, Usage

MICRO = Decimal("0.000001")


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _ts(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


class ProbeRow(SQLModel, table=True):
    __tablename__ = "probe_results"
    # recent results per offering (/api/probes, health replay at start)
    __table_args__ = (sa.Index("ix_probe_results_offering_started", "offering", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    #: unique so that a buffered retry of the same result never stores it twice
    probe_id: str = Field(max_length=36, unique=True)
    offering: str = Field(max_length=200)
    provider: str = Field(max_length=100)
    model: str = Field(max_length=150)
    vantage: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    outcome: str = Field(max_length=32, index=True)
    failed_phase: str | None = Field(default=None, max_length=16)
    started_at: dt.datetime = _ts(index=True)
    connect_s: float | None = None
    ttfb_s: float | None = None
    queue_s: float | None = None
    inference_s: float | None = None
    download_s: float | None = None
    total_s: float | None = None
    http_status: int | None = None
    provider_request_id: str | None = Field(default=None, max_length=200)
    image_mime: str | None = Field(default=None, max_length=64)
    image_width: int | None = None
    image_height: int | None = None
    image_bytes: int | None = None
    cost_micro_usd: int = 0
    error: str | None = Field(default=None, max_length=2000)
    retry_after_s: float | None = None
    cancelled: bool = False
    #: the usage the answer reported, as compact JSON (``Usage.as_dict``)
    usage_json: str | None = Field(default=None, max_length=1000)
    measured_cost_micro_usd: int | None = None
    served_model: str | None = Field(default=None, max_length=200)


class PriceQuoteRow(SQLModel, table=True):
    __tablename__ = "price_quotes"
    # price history of one offering, newest first (/api/prices, change detection)
    __table_args__ = (sa.Index("ix_price_quotes_offering_observed", "offering", "observed_at"),)

    id: int | None = Field(default=None, primary_key=True)
    offering: str = Field(max_length=200)
    source: str = Field(max_length=100, index=True)
    amount: str = Field(max_length=40)
    currency: str = Field(max_length=8)
    unit: str = Field(max_length=32)
    observed_at: dt.datetime = _ts()
    source_url: str = Field(default="", max_length=1000)
    evidence: str = Field(default="", max_length=4000)
    content_hash: str = Field(default="", max_length=64)
    status: str = Field(default="accepted", max_length=16)


class SpendRow(SQLModel, table=True):
    """The probe budget's ledger: one row per paid probe, reserved then settled."""

    __tablename__ = "probe_spend"
    # today's reserved and settled spend (budget check before every paid probe)
    __table_args__ = (sa.Index("ix_probe_spend_day_offering", "day", "offering"),)

    id: int | None = Field(default=None, primary_key=True)
    reservation_id: str = Field(max_length=36, unique=True)
    day: dt.date
    offering: str = Field(max_length=200)
    provider: str = Field(max_length=100)
    agent: str = Field(max_length=100)
    amount_micro_usd: int
    state: str = Field(max_length=16)  # reserved | settled | released
    created_at: dt.datetime = _ts()
    settled_at: dt.datetime | None = _ts(default=None)


class FetchStateRow(SQLModel, table=True):
    """What the pricing fetcher knows about one source URL between refreshes."""

    __tablename__ = "price_fetch_state"

    url: str = Field(primary_key=True, max_length=1000)
    source: str = Field(max_length=100, index=True)
    etag: str | None = Field(default=None, max_length=300)
    last_modified: str | None = Field(default=None, max_length=100)
    content_hash: str | None = Field(default=None, max_length=64)
    last_attempt_at: dt.datetime | None = _ts(default=None)
    last_success_at: dt.datetime | None = _ts(default=None)
    last_error: str | None = Field(default=None, max_length=1000)
    consecutive_failures: int = 0


class LeaseRow(SQLModel, table=True):
    """A named lease, so that one agent of a deployment does a shared job (price fetching)."""

    __tablename__ = "leases"

    name: str = Field(primary_key=True, max_length=100)
    holder: str = Field(max_length=200)
    expires_at: dt.datetime = _ts()


class IncidentRow(SQLModel, table=True):
    """A period an offering spent out of ``up``: opened on the change, closed on recovery."""

    __tablename__ = "incidents"
    # open incidents and the recent history of one offering (/api/incidents)
    __table_args__ = (sa.Index("ix_incidents_offering_started", "offering", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    offering: str = Field(max_length=200)
    vantage: str = Field(max_length=64)
    state: str = Field(max_length=16)
    reason: str = Field(default="", max_length=1000)
    started_at: dt.datetime = _ts()
    ended_at: dt.datetime | None = _ts(default=None)


def to_micro(amount: Decimal) -> int:
    return int((amount / MICRO).to_integral_value())


def from_micro(value: int) -> Decimal:
    return (Decimal(value) * MICRO).normalize()


_PHASE_COLUMNS = {
    Phase.CONNECT: "connect_s",
    Phase.TTFB: "ttfb_s",
    Phase.QUEUE: "queue_s",
    Phase.INFERENCE: "inference_s",
    Phase.DOWNLOAD: "download_s",
    Phase.TOTAL: "total_s",
}


def result_values(result: ProbeResult) -> dict[str, Any]:
    """The column values of one result's row (every column but ``id``), for a bulk insert."""
    image = result.image
    phases = result.phases
    return {
        "probe_id": result.probe_id,
        "offering": result.offering,
        "provider": result.provider,
        "model": result.model,
        "vantage": result.vantage,
        "kind": str(result.kind),
        "outcome": str(result.outcome),
        "failed_phase": str(result.failed_phase) if result.failed_phase else None,
        "started_at": result.started_at,
        **{column: phases.get(phase) for phase, column in _PHASE_COLUMNS.items()},
        "http_status": result.http_status,
        "provider_request_id": (result.provider_request_id or None)
        and result.provider_request_id[:200],
        "image_mime": image.mime if image else None,
        "image_width": image.width if image else None,
        "image_height": image.height if image else None,
        "image_bytes": image.size_bytes if image else None,
        "cost_micro_usd": to_micro(result.cost_usd),
        "error": result.error[:2000] if result.error else None,
        "retry_after_s": result.retry_after_s,
        "cancelled": result.cancelled,
        "usage_json": json.dumps(result.usage.as_dict(), separators=(",", ":"))
        if result.usage
        else None,
        "measured_cost_micro_usd": None
        if result.measured_cost_usd is None
        else to_micro(result.measured_cost_usd),
        "served_model": result.served_model[:200] if result.served_model else None,
    }


def row_from_result(result: ProbeResult) -> ProbeRow:
    return ProbeRow(**result_values(result))


def result_from_row(row: ProbeRow | sa.Row[Any]) -> ProbeResult:
    """The result a stored row holds (an ORM row or a plain one with the same columns)."""
    phases = {
        phase: getattr(row, column)
        for phase, column in _PHASE_COLUMNS.items()
        if getattr(row, column) is not None
    }
    image = None
    if row.image_mime and row.image_width and row.image_height:
        image = ImageInfo(
            mime=row.image_mime,
            width=row.image_width,
            height=row.image_height,
            size_bytes=row.image_bytes or 0,
        )
    return ProbeResult(
        probe_id=row.probe_id,
        offering=row.offering,
        provider=row.provider,
        model=row.model,
        vantage=row.vantage,
        kind=Kind(row.kind),
        outcome=Outcome(row.outcome),
        started_at=row.started_at,
        phases=phases,
        failed_phase=Phase(row.failed_phase) if row.failed_phase else None,
        http_status=row.http_status,
        provider_request_id=row.provider_request_id,
        image=image,
        cost_usd=from_micro(row.cost_micro_usd),
        error=row.error,
        retry_after_s=row.retry_after_s,
        cancelled=row.cancelled,
        usage=Usage.from_dict(json.loads(row.usage_json)) if row.usage_json else None,
        measured_cost_usd=None
        if row.measured_cost_micro_usd is None
        else from_micro(row.measured_cost_micro_usd),
        served_model=row.served_model,
    )


# -- budget and incidents ---------------------------------------------------------------------


class BudgetDayRow(SQLModel, table=True):
    """One row per UTC day: the lock every reservation of that day takes (PostgreSQL)."""

    __tablename__ = "probe_budget_days"

    day: dt.date = Field(primary_key=True)
    created_at: dt.datetime = _ts()


# -- history (issue 18) -----------------------------------------------------------------------


class RollupRow(SQLModel, table=True):
    """One hour (``span_hours`` 1) of one offering's results of one kind at one vantage
    (``monitor.history``): what is kept once the raw results are pruned. A day's hours are
    also kept added up (``span_hours`` 24, ``hour`` the day's start), so a 30-day query
    reads 30 rows per offering and kind, not 720."""

    __tablename__ = "probe_rollups"
    # the 30-day routing query and re-rolling an hour both read by span and hour
    __table_args__ = (
        sa.UniqueConstraint(
            "span_hours", "hour", "offering", "vantage", "kind", name="uq_probe_rollups_key"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    span_hours: int = 1
    hour: dt.datetime = _ts()
    offering: str = Field(max_length=200)
    vantage: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    ok: int = 0
    content_filtered: int = 0
    rate_limited: int = 0
    #: every other error
    errors: int = 0
    cancelled: int = 0
    cost_micro_usd: int = Field(default=0, sa_type=sa.BigInteger)
    #: latencies of ``ok`` results, packed (``monitor.history.pack``)
    latency_histogram: bytes | None = Field(default=None, sa_type=sa.LargeBinary)


class HistoryMarkRow(SQLModel, table=True):
    """Where rolling up and pruning have got to: ``rolled_through`` (every hour before it is
    rolled up, ``value``: the newest result id seen then) and ``pruned_through`` (raw
    results before it are gone)."""

    __tablename__ = "history_marks"

    name: str = Field(primary_key=True, max_length=40)
    at: dt.datetime | None = _ts(default=None)
    value: int | None = Field(default=None, sa_type=sa.BigInteger)
