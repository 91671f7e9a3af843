"""Checks on a config file before and beside its schema: size, encoding, duplicate keys,
credentials in URLs, and how many problems one error message may list.

Kept apart from :mod:`monitor.config` (the schema) because these guard against hostile or
mistaken input rather than describe the settings: each returns problems as
``"dotted.path: message"`` lines and never echoes a value that may be a secret.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus, urlsplit

import yaml
from pydantic import ValidationError

from monitor.secrets import secret_param
from probes import PROBES

#: a config of 1,000 offerings is ~400 kB; beyond this it is a mistake (or an attack:
#: a 50 MB file took PyYAML 115 s and 3.9 GB)
MAX_CONFIG_BYTES = 4 * 1024 * 1024
#: problems listed in one error; the rest are counted
MAX_PROBLEMS_SHOWN = 20
#: characters of one problem line (a message must never carry a whole input back)
MAX_PROBLEM_CHARS = 300
#: top-level keys whose URLs may carry credentials: a database URL holds its password
#: (and is redacted wherever it is printed)
_URL_EXEMPT = frozenset({"database_url"})


class DuplicateKeyError(yaml.YAMLError):
    """A mapping names the same key twice (PyYAML keeps the last one silently)."""

    def __init__(self, key: str, line: int) -> None:
        super().__init__(f"line {line}: duplicate key {key!r}")
        self.message = str(self.args[0])


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys instead of keeping the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: the base class reports it
                break
            if duplicate:
                raise DuplicateKeyError(str(key)[:80], key_node.start_mark.line + 1)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def decode(raw: bytes) -> str:
    """The file's text; ``ValueError`` with a one-line reason when it is not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ValueError(f"line {line}: not UTF-8 text (save the file as UTF-8)") from None


def url_problem(url: str) -> str | None:
    """Why a configured URL must not be used as is; None when it is fine. Never echoes it."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "not a valid URL"
    if "@" in parts.netloc:
        return "credentials in the URL (user:password@) are not allowed: use credential_env"
    for pair in parts.query.split("&") if parts.query else []:
        name = unquote_plus(pair.partition("=")[0])
        if secret_param(name):
            return (
                f"query parameter {name[:40]!r} looks like a credential: "
                "put it in an environment variable named by credential_env"
            )
    return None


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}.{index}")


def url_problems(data: Any) -> list[str]:
    """Every URL in the config (providers, their options, pricing sources, status feeds,
    anything added later) that carries credentials."""
    if not isinstance(data, dict):
        return []
    problems = []
    for key, value in data.items():
        if key in _URL_EXEMPT:
            continue
        for path, text in _strings(value, str(key)):
            if "://" in text and (problem := url_problem(text.strip())) is not None:
                problems.append(f"{path}: {problem}")
    return problems


def credential_problems(config: Any, offerings: list[str]) -> list[str]:
    """What each provider in use can tell at start about its credentials (a probe module's
    optional ``preflight(options, secret) -> str | None``): a credential that cannot work
    is the operator's to fix, never a provider outage to alert on later."""
    from monitor.secrets import read_secret

    problems = []
    for name in sorted({config.provider_of(o) for o in offerings}):
        provider = config.providers[name]
        preflight = getattr(PROBES[provider.protocol], "preflight", None)
        if preflight is None:
            continue
        problem = preflight(provider.parsed_options(), read_secret(provider.credential_env))
        if problem:
            problems.append(f"providers.{name}: {problem}")
    return problems


def iso_date(value: str | None) -> str | None:
    """A ``YYYY-MM-DD`` date or None; ``ValueError`` otherwise (without the value)."""
    if value is None:
        return None
    try:
        dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError("must be a date, YYYY-MM-DD") from None
    if len(value) != 10:
        raise ValueError("must be a date, YYYY-MM-DD")
    return value


def capped(problems: list[str]) -> list[str]:
    """At most :data:`MAX_PROBLEMS_SHOWN` lines of bounded length, the rest counted."""
    lines = [
        p if len(p) <= MAX_PROBLEM_CHARS else p[: MAX_PROBLEM_CHARS - 1] + "…" for p in problems
    ]
    if len(lines) > MAX_PROBLEMS_SHOWN:
        rest = len(lines) - MAX_PROBLEMS_SHOWN
        lines = [*lines[:MAX_PROBLEMS_SHOWN], f"… and {rest} more problems"]
    return lines


def format_errors(error: ValidationError, *, prefix: str = "") -> str:
    """One line per problem, each starting with the dotted path of the bad key."""
    lines = []
    for item in error.errors():
        parts = [prefix] if prefix else []
        parts += [str(part) for part in item["loc"] if part not in ("", None)]
        path = ".".join(parts)
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        if not path:  # whole-config checks already name their keys, "; "-separated
            lines.extend(message.split("; "))
        else:
            lines.append(f"{path}: {message}")
    return "\n".join(lines)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def cross_reference_problems(data: dict[str, Any]) -> list[str]:
    """The whole-config checks on raw data: pydantic skips after-validators when a field
    failed, and a person fixing the file wants every problem at once."""
    providers, models = _mapping(data.get("providers")), _mapping(data.get("models"))
    sources, offerings = _mapping(data.get("pricing_sources")), _mapping(data.get("offerings"))
    problems: list[str] = []
    for name, entry in providers.items():
        entry = _mapping(entry)
        options = entry.get("options", {})
        if entry.get("protocol") in PROBES and isinstance(options, dict):
            try:
                PROBES[entry["protocol"]].Options.model_validate(options)
            except ValidationError as exc:
                problems += format_errors(exc, prefix=f"providers.{name}.options").splitlines()
    for key in _mapping(_mapping(data.get("budget")).get("per_offering_usd")):
        if key not in offerings:
            problems.append(f"budget.per_offering_usd.{key}: unknown offering")
    for key, entry in offerings.items():
        provider, sep, model = str(key).partition("/")
        if not sep:
            problems.append(f"offerings.{key}: key must be provider/model")
            continue
        if provider not in providers:
            problems.append(f"offerings.{key}: unknown provider {provider!r}")
        if model not in models:
            problems.append(f"offerings.{key}: unknown model {model!r}")
        listed = _mapping(entry).get("pricing_sources")
        for source in listed if isinstance(listed, list) else []:
            if source not in sources:
                problems.append(f"offerings.{key}.pricing_sources: unknown source {source!r}")
    return problems
