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
from urllib.parse import unquote_plus, urlsplit, urlunsplit

_lock = threading.Lock()
_values: set[str] = set()
#: ``_values`` longest first (a secret inside a longer one is masked after it), rebuilt
#: when a value is registered, not at every scrub (one runs for every probe's request id)
_ordered: tuple[str, ...] = ()
_PATTERNS = [
    re.compile(r"(?i)(authorization:\s*)(bearer|key|token|basic)\s+\S+"),
    re.compile(r"(?i)((?:api[_-]?key|key|token|access_token)=)[^&\s\"']+"),
    re.compile(r"(?i)(x-goog-api-key:\s*)\S+"),
    # userinfo of any URL in free text: scheme://user:pass@host
    re.compile(r"(?i)([a-z][a-z0-9+.-]*://)[^/\s@:]*:[^/\s@]*(?=@)"),
]
MASK = "[REDACTED]"


def register(value: str | None) -> None:
    """Remember a secret value so that it is scrubbed from any text."""
    global _ordered
    if value and len(value) >= 4:
        with _lock:
            if value not in _values:
                _values.add(value)
                _ordered = tuple(sorted(_values, key=len, reverse=True))


def read_secret(env_name: str | None) -> str | None:
    """Read a credential from the environment and register it for scrubbing."""
    if not env_name:
        return None
    value = os.environ.get(env_name)
    register(value)
    return value or None


#: query parameters whose values are credentials (compared lower-case, ``-`` as ``_``)
SECRET_PARAMS = frozenset(
    {
        "key",
        "api_key",
        "apikey",
        "token",
        "access_token",
        "auth",
        "password",
        "secret",
        "client_secret",
        "signature",
        "sig",
        "x_goog_api_key",
    }
)


def secret_param(name: str) -> bool:
    """Whether a query parameter's name says its value is a credential."""
    norm = name.lower().replace("-", "_")
    return norm in SECRET_PARAMS or norm.endswith(("_key", "_token", "_secret", "_password"))


def redact_url(url: str) -> str:
    """``url`` safe to print: userinfo and secret-looking query values masked.

    The config refuses such URLs; this is the second line of defence at every output (an
    export's ``api_base``, the route CLI, the API, logs). Never raises.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return scrub(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    pairs = [pair.partition("=") for pair in parts.query.split("&")] if parts.query else []
    query = "&".join(
        f"{k}={MASK}" if secret_param(unquote_plus(k)) else f"{k}{eq}{v}" for k, eq, v in pairs
    )
    if (netloc, query) == (parts.netloc, parts.query):
        return scrub(url)  # unsplit would normalise what it need not touch (sqlite:////)
    return scrub(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))


def scrub(text: str) -> str:
    for value in _ordered:
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
