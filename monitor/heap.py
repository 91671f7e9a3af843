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

It also sets the GIL's switch interval. A thread running Python (the gauge reads behind
a scrape, the writer, a sync handler) and the event loop form a convoy: each time the loop
waits for I/O it gives the GIL up and waits up to the switch interval to get it back (a
1 ms sleep on the loop overslept 5.2 ms at the median next to a busy thread with CPython's
5 ms, 1.2 ms with 1 ms). Since routing's evaluation left its thread (issue 18,
``monitor/route_slices``), ``bench.scale`` at 10,000 offerings measured no difference
between 1 and 5 ms (drift p99 27-119 ms against 7-76 ms, interleaved on a shared machine)
and ~2-8 % more CPU per probe at 1 ms, so CPython's 5 ms stays the default.
"""

from __future__ import annotations

import gc
import sys

#: allocations (less deallocations) between two collections of the youngest generation
#: (CPython's default is 700: at ~330 probes a second that is a collection every few ms)
YOUNG = 20_000
#: seconds a thread may hold the GIL while another waits for it (CPython's default)
SWITCH_S = 0.005


def settle(young: int = YOUNG, switch_s: float = SWITCH_S) -> None:
    """Collect once, freeze every object alive into the permanent generation, set the
    youngest generation's threshold to ``young`` (the older two keep CPython's) and the
    GIL's switch interval to ``switch_s``."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young, middle, old)
    sys.setswitchinterval(switch_s)
