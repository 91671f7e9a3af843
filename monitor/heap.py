"""The garbage collector of a serving process (issue 18).

At 10,000 offerings an agent holds about two million objects the cyclic collector tracks
(configs, HTTP clients, metric series, scheduler jobs, health and routing state), nearly
all of them alive for the whole run. CPython's collector walks every one of them at each
full (oldest-generation) collection, and with the default thresholds those came every
~3 s and took 0.8-1.9 s each, on the event loop's thread: the loop stood still, probes
started seconds late, and a third of a core went to walks that freed nothing.

:func:`settle`, called once the service has started, moves what is alive then into the
permanent generation (:func:`gc.freeze`: never walked again) and raises the youngest
generation's threshold, so objects of a probe in flight (a few milliseconds) die young
instead of being promoted and walked later. Cycles among frozen objects are never freed;
those made at start-up are collected just before the freeze.
"""

from __future__ import annotations

import gc

#: allocations (less deallocations) between two collections of the youngest generation
#: (CPython's default is 700: at ~330 probes a second that is a collection every few ms)
YOUNG = 20_000


def settle(young: int = YOUNG) -> None:
    """Collect once, freeze every object alive into the permanent generation, then set the
    youngest generation's threshold to ``young`` (the older two keep CPython's)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young, middle, old)
