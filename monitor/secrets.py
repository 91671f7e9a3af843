"""Keeping credentials out of everything provmon writes.

Credentials are read from the environment variables the config names, and registered
here; :func:`scrub` replaces every registered value (and common credential shapes in
URLs and headers) before text reaches logs, the database, the API or an error message.
"""

from __future__ import annotations

import logging
import os
import re
import threading

_lock = threading.Lock()
_values: set[str] = set()
_PATTERNS = [
    re.compile(r"(?i)(authorization:\s*)(bearer|key|token|basic)\s+\S+"),
    re.compile(r"(?i)((?:api[_-]?key|key|token|access_token)=)[^&\s\"']+"),
    re.compile(r"(?i)(x-goog-api-key:\s*)\S+"),
]
MASK = "[REDACTED]"


def register(value: str | None) -> None:
    """Remember a secret value so that it is scrubbed from any text."""
    if value and len(value) >= 4:
        with _lock:
            _values.add(value)


def read_secret(env_name: str | None) -> str | None:
    """Read a credential from the environment and register it for scrubbing."""
    if not env_name:
        return None
    value = os.environ.get(env_name)
    register(value)
    return value or None


def scrub(text: str) -> str:
    with _lock:
        values = sorted(_values, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


class ScrubbingFilter(logging.Filter):
    """A logging filter that scrubs the formatted message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
