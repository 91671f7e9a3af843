"""The runner: one probe, one deadline, one result, for every protocol alike.

The runner owns time and bookkeeping (blackbox_exporter's handler, not its probers): it
sets the deadline, times the adapter with a monotonic clock, maps transport errors to
outcomes, checks the image off the event loop, scrubs secrets from the error text and
hands the result to its sinks. It never raises into the scheduler.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol

import httpx
from pydantic import BaseModel

from monitor import secrets
from monitor.config import Config
from monitor.http import backend_name, build_client, classify_transport_error
from monitor.images import check_image
from monitor.interfaces import (
    ImageInfo,
    Kind,
    Outcome,
    Phase,
    PriceUnit,
    ProbeFailure,
    ProbeResult,
)
from monitor.pricing.cost import measured_cost
from monitor.probe_context import Probe, ProbeContext
from probes import PROBES

log = logging.getLogger(__name__)

#: a probe's deadline leaves this share of its interval free, so runs never pile up
INTERVAL_MARGIN = 0.9
#: time allowed for deadline clean-ups (cancelling a queued job) after the deadline
CLEANUP_SECONDS = 5.0
#: an offering's connection is kept this long past its control interval (and jitter), up
#: to ``KEEPALIVE_MAX_SECONDS``
KEEPALIVE_MARGIN_SECONDS = 5.0
KEEPALIVE_MAX_SECONDS = 120.0


def _request_id(value: object) -> str | None:
    """The provider's request id as we keep it: text from a header or body the provider
    chose, so scrubbed (a provider echoing the key there must not store it) and bounded."""
    if not isinstance(value, str) or not value:
        return None
    return secrets.scrub(value)[:200]


class ResultSink(Protocol):
    def accept(self, result: ProbeResult) -> None: ...


class CostLookup(Protocol):
    def price_of(self, offering: str) -> Decimal | None: ...


def rates_for(prices: object, offering: str) -> Mapping[PriceUnit, Decimal]:
    """The offering's listed rates by unit, from a lookup that knows them (the pricing
    engine does); a lookup with only a per-image price gives that price per image."""
    rates_of = getattr(prices, "rates_of", None)
    if callable(rates_of):
        found = rates_of(offering)
        if found:
            return dict(found)
    price_of = getattr(prices, "price_of", None)
    price = price_of(offering) if callable(price_of) else None
    return {PriceUnit.IMAGE: price} if price else {}


class StaticPrices:
    """Listed prices from the config; the pricing engine replaces it with live quotes."""

    def __init__(self, config: Config) -> None:
        self._prices = {k: o.listed_price_usd for k, o in config.offerings.items()}

    def price_of(self, offering: str) -> Decimal | None:
        return self._prices.get(offering)


class Runner:
    """Runs probes for the offerings of one config. One instance per process."""

    def __init__(
        self,
        config: Config,
        sinks: Sequence[ResultSink] = (),
        *,
        prices: CostLookup | None = None,
        clock: Callable[[], float] = time.perf_counter,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        backend_name()  # a mistyped PROVMON_HTTP_BACKEND fails here, not in every probe
        self.config = config
        self.sinks = list(sinks)
        self.prices = prices or StaticPrices(config)
        self.clock = clock
        self.now = now
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._probes: dict[str, Probe] = {}
        self._options: dict[str, BaseModel] = {}
        self._secrets: dict[str, str | None] = {}
        for name, provider in config.providers.items():
            self._probes[name] = PROBES[provider.protocol]()
            self._options[name] = provider.parsed_options()
            self._secrets[name] = secrets.read_secret(provider.credential_env)
        self.in_flight: set[asyncio.Task[Any]] = set()

    def probe_for(self, provider: str) -> Probe:
        """The probe instance of a provider's protocol (one per provider)."""
        return self._probes[provider]

    def client_for(self, offering: str) -> httpx.AsyncClient:
        """One small client per offering: httpcore's pool walks every connection on each
        request, so one large shared pool costs CPU that grows with its square (bench/)."""
        client = self._clients.get(offering)
        if client is None or client.is_closed:
            client = build_client(
                timeout=self.config.defaults.timeout_seconds,
                max_connections=4,
                cookies=False,
                keepalive_expiry=self.keepalive_seconds(offering),
            )
            self._clients[offering] = client
        return client

    def keepalive_seconds(self, offering: str) -> float:
        """How long an offering's idle connection is kept: past its next control probe.

        Kept only as long as the control interval, whether the next probe found the
        connection open turned on milliseconds of start drift (so a coin flip decided which
        probes' ttfb included a connect and, over TLS, paid a handshake's CPU). A server
        that closes it sooner is seen closing, and the next probe connects afresh."""
        schedule = self.config.schedule_for(offering, Kind.CONTROL)
        wanted = schedule.interval_seconds + schedule.jitter_seconds + KEEPALIVE_MARGIN_SECONDS
        return min(max(30.0, wanted), KEEPALIVE_MAX_SECONDS)

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    def deadline_seconds(self, offering: str, kind: Kind) -> float:
        timeout = self.config.timeout_for(offering)
        interval = self.config.schedule_for(offering, kind).interval_seconds
        return min(timeout, interval * INTERVAL_MARGIN)

    def context(self, offering: str, kind: Kind, deadline: float) -> ProbeContext:
        provider_name = self.config.provider_of(offering)
        provider = self.config.providers[provider_name]
        entry = self.config.offerings[offering]
        return ProbeContext(
            offering=offering,
            provider=provider_name,
            model=self.config.model_of(offering),
            provider_model=entry.provider_model,
            kind=kind,
            base_url=provider.base_url,
            options=self._options[provider_name],
            params=dict(entry.params),
            prompt=self.config.defaults.prompt,
            expect_width=entry.expect.width,
            expect_height=entry.expect.height,
            client=self.client_for(offering),
            deadline=deadline,
            secret=self._secrets.get(provider_name),
            max_body_bytes=self.config.defaults.limits.max_body_bytes,
            clock=self.clock,
        )

    async def run_probe(
        self, offering: str, kind: Kind, *, price: Decimal | None = None
    ) -> ProbeResult:
        """Run one probe to its end and deliver the result. Never raises (but cancellation).

        ``price``: what a paid probe costs, as the caller reserved it (``monitor.job``'s
        snapshot); the result's ``cost_usd`` is that amount, so the reservation, the stored
        cost and the spend counter agree even when the listed price changes mid-probe.
        Without it, the price is looked up when the probe ends."""
        task = asyncio.current_task()
        if task is not None:
            self.in_flight.add(task)
        try:
            result = await self._run(offering, kind, price)
        finally:
            if task is not None:
                self.in_flight.discard(task)
        self._deliver(result)
        return result

    async def _run(self, offering: str, kind: Kind, price: Decimal | None) -> ProbeResult:
        started_at = self.now()
        start = self.clock()
        budget = self.deadline_seconds(offering, kind)
        ctx = self.context(offering, kind, start + budget)
        probe = self._probes[ctx.provider]
        image: bytes | None = None
        outcome, error, failed = Outcome.OK, None, None
        retry_after: float | None = None
        http_status: int | None = None
        try:
            async with asyncio.timeout(budget):
                if kind == Kind.GENERATE:
                    image = await probe.generate(ctx)
                else:
                    await probe.control(ctx)
        except TimeoutError:
            outcome, failed = Outcome.TIMEOUT, ctx.current_phase
            error = f"deadline of {budget:.1f}s passed during {ctx.current_phase}"
        except ProbeFailure as exc:
            outcome, error = exc.outcome, exc.message
            http_status, retry_after = exc.http_status, exc.retry_after_s
        except httpx.HTTPError as exc:
            outcome, error = classify_transport_error(exc)
            if outcome == Outcome.TIMEOUT:
                failed = ctx.current_phase
        except asyncio.CancelledError:
            self._deliver(self._cancelled(ctx, started_at, start))
            raise
        except Exception as exc:  # an adapter bug must not stop the scheduler
            log.exception("probe %s %s crashed", offering, kind)
            outcome, error = Outcome.PROTOCOL_ERROR, f"probe crashed: {type(exc).__name__}"
        if outcome == Outcome.TIMEOUT:
            # the deadline passed, whether asyncio's timeout or the request's own (bounded
            # by the time left) noticed first: a job left alive would run, and be billed
            await self._cleanup(ctx)
        total = self.clock() - start
        phases = dict(ctx.phases)
        phases[Phase.TOTAL] = total
        info: ImageInfo | None = None
        if outcome == Outcome.OK and kind == Kind.GENERATE and image is not None:
            outcome, error, info = await self._check(ctx, image)
        return ProbeResult(
            probe_id=str(uuid.uuid4()),
            offering=offering,
            provider=ctx.provider,
            model=ctx.model,
            vantage=self.config.vantage,
            kind=kind,
            outcome=outcome,
            started_at=started_at,
            phases=phases,
            failed_phase=failed,
            http_status=http_status if http_status is not None else ctx.http_status,
            provider_request_id=_request_id(ctx.request_id),
            image=info,
            cost_usd=self._cost(offering, kind, outcome, price),
            error=secrets.scrub(error) if error else None,
            retry_after_s=retry_after,
            usage=ctx.usage,
            measured_cost_usd=self._measured(offering, kind, ctx),
            served_model=_request_id(ctx.served_model),
        )

    def _measured(self, offering: str, kind: Kind, ctx: ProbeContext) -> Decimal | None:
        # only what the answer reported: a filtered answer that still billed its input
        # tokens reports them, a failure that reported nothing cost nothing we can see
        if kind != Kind.GENERATE or ctx.usage is None:
            return None
        return measured_cost(rates_for(self.prices, offering), ctx.usage)

    async def _check(
        self, ctx: ProbeContext, image: bytes
    ) -> tuple[Outcome, str | None, ImageInfo | None]:
        expect = self.config.offerings[ctx.offering].expect
        try:
            # decoding costs milliseconds of CPU: keep it off the loop other probes time on
            info = await asyncio.to_thread(
                check_image,
                image,
                width=expect.width,
                height=expect.height,
                allowed_mime=expect.mime,
                max_pixels=self.config.defaults.limits.max_image_pixels,
            )
        except ProbeFailure as exc:
            return exc.outcome, exc.message, None
        return Outcome.OK, None, info

    def _cost(self, offering: str, kind: Kind, outcome: Outcome, price: Decimal | None) -> Decimal:
        # providers bill delivered images only (fal, Replicate, Google: failures are free)
        if kind != Kind.GENERATE or outcome not in (Outcome.OK, Outcome.INVALID_OUTPUT):
            return Decimal(0)
        if price is not None:
            return price
        return self.prices.price_of(offering) or Decimal(0)

    async def _cleanup(self, ctx: ProbeContext) -> None:
        for cleanup in ctx.cleanups:
            try:
                async with asyncio.timeout(CLEANUP_SECONDS):
                    await cleanup()
            except Exception as exc:
                log.warning(
                    "clean-up after deadline failed for %s: %s",
                    ctx.offering,
                    secrets.scrub(str(exc)) or type(exc).__name__,
                )

    def _cancelled(self, ctx: ProbeContext, started_at: dt.datetime, start: float) -> ProbeResult:
        phases = dict(ctx.phases)
        phases[Phase.TOTAL] = self.clock() - start
        return ProbeResult(
            probe_id=str(uuid.uuid4()),
            offering=ctx.offering,
            provider=ctx.provider,
            model=ctx.model,
            vantage=self.config.vantage,
            kind=ctx.kind,
            outcome=Outcome.TIMEOUT,
            started_at=started_at,
            phases=phases,
            failed_phase=ctx.current_phase,
            http_status=ctx.http_status,
            provider_request_id=_request_id(ctx.request_id),
            error="cancelled: provmon was shutting down",
            cancelled=True,
        )

    def _deliver(self, result: ProbeResult) -> None:
        for sink in self.sinks:
            try:
                sink.accept(result)
            except Exception:
                log.exception("result sink %s failed", type(sink).__name__)
