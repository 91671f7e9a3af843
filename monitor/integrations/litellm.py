"""A LiteLLM callback that reports each image generation to provmon as a passive sample.

Use it in the gateway that runs the config ``provmon route --format litellm`` exported
(each deployment's ``model_info.id`` is the provmon offering)::

    from monitor.integrations.litellm import ProvmonLogger
    litellm.callbacks = [ProvmonLogger("http://provmon:8080", token_env="PROVMON_PASSIVE_TOKEN")]

Every image generation (``image_generation`` / ``aimage_generation``) that LiteLLM logs
becomes ``{"offering", "outcome", "latency_s", "at"}``; samples are batched and sent to
``POST /api/samples`` (:mod:`monitor.passive`) every ``flush_interval_s`` or once
``batch_size`` wait, from a background thread, so a slow or absent provmon never delays
the gateway's requests. Calls of other kinds and deployments without a provmon offering
are ignored. The token is read from the environment and never logged; a refused or failed
batch is logged in one line and kept for the next flush, up to ``max_buffer`` samples.

LiteLLM fills ``kwargs["standard_logging_object"]`` for every logged call
(``litellm/types/utils.py`` ``StandardLoggingPayload``: ``model_id`` is the deployment's
``model_info.id``, ``call_type``, ``startTime`` / ``endTime`` as epoch seconds,
``error_information.error_code`` / ``error_class`` on failures); a call made without the
Router carries ``model_info`` in ``litellm_params.metadata`` instead.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections import deque
from typing import Any

import httpx
from litellm.integrations.custom_logger import CustomLogger

from monitor.http import build_sync_client
from monitor.interfaces import Outcome

log = logging.getLogger(__name__)

IMAGE_CALLS = frozenset({"image_generation", "aimage_generation"})

#: LiteLLM exception class names (litellm/exceptions.py) -> outcome
_BY_CLASS = {
    "RateLimitError": Outcome.RATE_LIMITED,
    "Timeout": Outcome.TIMEOUT,
    "ContentPolicyViolationError": Outcome.CONTENT_FILTERED,
    "AuthenticationError": Outcome.AUTH_ERROR,
    "PermissionDeniedError": Outcome.AUTH_ERROR,
    "BudgetExceededError": Outcome.AUTH_ERROR,
    "NotFoundError": Outcome.MODEL_UNAVAILABLE,
    "BadRequestError": Outcome.BAD_REQUEST,
    "UnprocessableEntityError": Outcome.BAD_REQUEST,
    "APIConnectionError": Outcome.CONNECT_ERROR,
    "InternalServerError": Outcome.SERVER_ERROR,
    "ServiceUnavailableError": Outcome.SERVER_ERROR,
    "BadGatewayError": Outcome.SERVER_ERROR,
    "APIError": Outcome.SERVER_ERROR,
}


def outcome_of_error(error_class: str | None, error_code: str | None) -> Outcome:
    """The outcome of a failed call, by LiteLLM's exception class, else its status code;
    anything unrecognised is a server error (the gateway got no image)."""
    if error_class in _BY_CLASS:
        return _BY_CLASS[error_class]
    code = int(error_code) if error_code and error_code.isdigit() else 0
    if code == 429:
        return Outcome.RATE_LIMITED
    if code in (401, 402, 403):
        return Outcome.AUTH_ERROR
    if code == 404:
        return Outcome.MODEL_UNAVAILABLE
    if code == 408:
        return Outcome.TIMEOUT
    if 400 <= code < 500:
        return Outcome.BAD_REQUEST
    return Outcome.SERVER_ERROR


def _offering(kwargs: dict[str, Any]) -> str | None:
    payload = kwargs.get("standard_logging_object") or {}
    if isinstance(payload, dict) and isinstance(payload.get("model_id"), str):
        return str(payload["model_id"])
    params = kwargs.get("litellm_params") or {}
    for key in ("metadata", "litellm_metadata"):
        info = ((params.get(key) or {}).get("model_info") or {}) if isinstance(params, dict) else {}
        if isinstance(info, dict) and isinstance(info.get("id"), str):
            return str(info["id"])
    return None


def _when(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.astimezone(dt.UTC)
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(float(value), dt.UTC)
    return None


def sample_of(
    kwargs: dict[str, Any], start: Any, end: Any, *, failed: bool
) -> dict[str, Any] | None:
    """The passive sample for one logged call, or None when it is not an image generation
    of a provmon offering."""
    payload = kwargs.get("standard_logging_object") or {}
    call_type = payload.get("call_type") if isinstance(payload, dict) else None
    call_type = call_type or kwargs.get("call_type")
    if call_type not in IMAGE_CALLS:
        return None
    offering = _offering(kwargs)
    if offering is None:
        return None
    began, ended = _when(start), _when(end)
    if began is None or ended is None:
        began = _when(payload.get("startTime")) if isinstance(payload, dict) else None
        ended = _when(payload.get("endTime")) if isinstance(payload, dict) else None
    if began is None:
        return None
    outcome = Outcome.OK
    if failed:
        info = (payload.get("error_information") if isinstance(payload, dict) else None) or {}
        exc = kwargs.get("exception")
        error_class = info.get("error_class") or (type(exc).__name__ if exc else None)
        outcome = outcome_of_error(error_class, info.get("error_code"))
    latency = max(0.0, (ended - began).total_seconds()) if ended is not None else None
    return {
        "offering": offering,
        "outcome": outcome.value,
        "latency_s": latency,
        "at": began.isoformat(),
    }


class ProvmonLogger(CustomLogger):
    """Batches image generations' outcomes to provmon's ``POST /api/samples``."""

    def __init__(
        self,
        provmon_url: str,
        *,
        token_env: str,
        flush_interval_s: float = 5.0,
        batch_size: int = 100,
        max_buffer: int = 1000,
        timeout_s: float = 10.0,
    ) -> None:
        super().__init__()
        self.url = provmon_url.rstrip("/") + "/api/samples"
        self.token_env = token_env
        self.flush_interval_s = flush_interval_s
        self.batch_size = batch_size
        self.buffer: deque[dict[str, Any]] = deque(maxlen=max_buffer)
        self.sent = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._client = build_sync_client(timeout=timeout_s)
        self._thread = threading.Thread(target=self._run, name="provmon-samples", daemon=True)
        self._thread.start()

    # LiteLLM calls the sync hooks for sync calls and the async ones for async calls
    def log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._add(sample_of(kwargs, start_time, end_time, failed=False))

    def log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._add(sample_of(kwargs, start_time, end_time, failed=True))

    async def async_log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._add(sample_of(kwargs, start_time, end_time, failed=False))

    async def async_log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._add(sample_of(kwargs, start_time, end_time, failed=True))

    def _add(self, sample: dict[str, Any] | None) -> None:
        if sample is None:
            return
        with self._lock:
            self.buffer.append(sample)
            full = len(self.buffer) >= self.batch_size
        if full:
            self._wake.set()

    def flush(self) -> bool:
        """Send what is buffered now; True when provmon took it (or nothing was waiting)."""
        with self._lock:
            batch = list(self.buffer)[: self.batch_size]
        if not batch:
            return True
        token = os.environ.get(self.token_env, "")
        try:
            response = self._client.post(
                self.url, json={"samples": batch}, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            log.warning(
                "provmon samples not sent (%s); kept for the next flush", type(exc).__name__
            )
            return False
        if response.status_code == 422:
            # refused whole for a bad sample (unknown offering, too old): retrying cannot help
            log.warning("provmon refused %d samples: HTTP 422; dropped", len(batch))
        elif response.status_code >= 300:
            log.warning("provmon samples not taken: HTTP %d; kept", response.status_code)
            return False
        with self._lock:
            for _ in range(min(len(batch), len(self.buffer))):
                self.buffer.popleft()
            self.sent += len(batch) if response.status_code < 300 else 0
        return response.status_code < 300

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            while self.flush() and len(self.buffer) >= self.batch_size:
                pass

    def close(self) -> None:
        """Flush what is left and stop the background thread."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
        self.flush()
        self._client.close()
