"""Model lifecycle, apart from health: live, deprecated, retired, unlisted.

Pure functions over data (no clock, no I/O). Health says whether an offering answers;
lifecycle says whether it should still be in the catalog at all:

- ``deprecated``: a shutdown date is known and still ahead (from the catalog's
  ``retired_after`` or a provider's deprecation page);
- ``retired``: the provider says the model is gone (health ``retired``: its answers say
  "not found"), or the shutdown date has passed;
- ``unlisted``: the provider's own model listing lacks it, though it still answers;
- ``live``: none of these.

A retired offering leaves routing and outage alerts; a gateway config never carries a
model past its shutdown time. Answers that name another model than the one asked for (a
silent redirect, anomalyco/models.dev#1790) become :class:`ServedModelEvent` values.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum


class Lifecycle(StrEnum):
    LIVE = "live"
    DEPRECATED = "deprecated"
    RETIRED = "retired"
    UNLISTED = "unlisted"


@dataclass(frozen=True, kw_only=True)
class Shutdown:
    """A known shutdown of one model, at one provider or (``provider`` None) at all."""

    model: str
    at: dt.datetime
    provider: str | None = None
    #: the page gave only the earliest possible date ("Earliest February 2026")
    earliest: bool = False
    replacement: str | None = None
    #: where it was read: ``catalog`` or a deprecation source's name
    source: str = "catalog"


@dataclass(frozen=True, kw_only=True)
class LifecycleView:
    offering: str
    state: Lifecycle
    reason: str
    shutdown_at: dt.datetime | None = None
    replacement: str | None = None


def shutdown_for(
    shutdowns: Iterable[Shutdown], provider: str, model: str, provider_model: str
) -> Shutdown | None:
    """The earliest shutdown that applies to an offering: one naming its provider, or any
    provider, and its canonical model id or the provider's own id for it."""
    found: Shutdown | None = None
    for shutdown in shutdowns:
        if shutdown.provider not in (None, provider):
            continue
        if shutdown.model not in (model, provider_model):
            continue
        if found is None or shutdown.at < found.at:
            found = shutdown
    return found


def lifecycle_of(
    offering: str,
    *,
    now: dt.datetime,
    shutdown: Shutdown | None,
    listed: bool | None,
    answered_gone: bool,
) -> LifecycleView:
    """The lifecycle state of one offering from the evidence there is.

    ``listed`` is None when the provider has no listing (or it was not read yet);
    ``answered_gone`` is health's ``retired``: the model-naming call said it does not exist.
    """
    at = shutdown.at if shutdown else None
    replacement = shutdown.replacement if shutdown else None
    if answered_gone:
        return LifecycleView(
            offering=offering,
            state=Lifecycle.RETIRED,
            reason="the provider answers that the model does not exist",
            shutdown_at=at,
            replacement=replacement,
        )
    if shutdown is not None and now >= shutdown.at:
        return LifecycleView(
            offering=offering,
            state=Lifecycle.RETIRED,
            reason=f"shut down on {shutdown.at.date().isoformat()} ({shutdown.source})",
            shutdown_at=at,
            replacement=replacement,
        )
    if listed is False:
        return LifecycleView(
            offering=offering,
            state=Lifecycle.UNLISTED,
            reason="the provider's model listing lacks it",
            shutdown_at=at,
            replacement=replacement,
        )
    if shutdown is not None:
        when = "earliest " if shutdown.earliest else ""
        return LifecycleView(
            offering=offering,
            state=Lifecycle.DEPRECATED,
            reason=f"shutdown {when}{shutdown.at.date().isoformat()} ({shutdown.source})",
            shutdown_at=at,
            replacement=replacement,
        )
    return LifecycleView(offering=offering, state=Lifecycle.LIVE, reason="no shutdown known")


def routable(view: LifecycleView) -> bool:
    """Whether routing and exported gateway configs may still carry the offering."""
    return view.state != Lifecycle.RETIRED


def catalog_shutdowns(retired_after: Mapping[str, str | None]) -> list[Shutdown]:
    """Shutdowns from the catalog's ``models.<id>.retired_after`` (a date, UTC midnight)."""
    found = []
    for model, value in retired_after.items():
        if value:
            day = dt.date.fromisoformat(value)
            at = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
            found.append(Shutdown(model=model, at=at, source="catalog"))
    return found


# -- served models ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ServedModelEvent:
    """An answer named another model than before, or than the one asked for."""

    offering: str
    at: dt.datetime
    asked: str
    served: str
    previous: str | None

    @property
    def summary(self) -> str:
        if self.previous is None:
            return f"answers name {self.served}, not {self.asked}"
        return f"served model changed from {self.previous} to {self.served}"


_SNAPSHOT = re.compile(r"^[-_.@:]?(\d{3}|\d{4}-?\d{2}-?\d{2}|v?\d+(\.\d+)*|latest|preview)?$")


def same_model(asked: str, served: str) -> bool:
    """True when ``served`` is ``asked`` or a snapshot of it (``-001``, ``-2026-04-21``,
    ``models/`` or ``publishers/google/models/`` prefixes): not a redirect."""
    asked_id = asked.rsplit("/models/", 1)[-1].removeprefix("models/").lower()
    served_id = served.rsplit("/models/", 1)[-1].removeprefix("models/").lower()
    if served_id == asked_id:
        return True
    if served_id.startswith(asked_id):
        return bool(_SNAPSHOT.match(served_id[len(asked_id) :]))
    return False


@dataclass
class ServedModels:
    """The model each offering's answers last named; yields an event when that changes."""

    last: dict[str, str]

    def __init__(self, last: Mapping[str, str] | None = None) -> None:
        self.last = dict(last or {})

    def observe(
        self, offering: str, asked: str, served: str | None, at: dt.datetime
    ) -> ServedModelEvent | None:
        if not served:
            return None
        previous = self.last.get(offering)
        self.last[offering] = served
        if previous is None:
            if same_model(asked, served):
                return None
            return ServedModelEvent(
                offering=offering, at=at, asked=asked, served=served, previous=None
            )
        if previous == served:  # a new snapshot of the same model is a change too
            return None
        return ServedModelEvent(
            offering=offering, at=at, asked=asked, served=served, previous=previous
        )
