"""monitor.heap: what a serving process holds after start-up is out of the collector's
walks, start-up's garbage cycles are freed first, and young objects are collected less
often. Each case runs in a fresh interpreter: freezing is process-wide."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import gc, sys, weakref
    from monitor import heap

    class Node:
        pass

    kept = [Node() for _ in range(1000)]          # alive at start-up: to be frozen
    cycle = Node(); cycle.me = cycle              # start-up garbage in a cycle
    gone = weakref.ref(cycle); del cycle
    gc.disable()                                  # no collection but settle's own
    heap.settle(5000, 0.002)
    gc.enable()
    tracked = {id(o) for o in gc.get_objects()}
    print(gone() is None, gc.get_freeze_count() >= 1000,
          any(id(o) in tracked for o in kept), gc.get_threshold()[0], sys.getswitchinterval())
    """
)


def test_settle_frees_start_up_cycles_then_freezes_what_is_alive() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=60
    )
    freed, frozen, still_walked, young, switch = done.stdout.split()
    assert freed == "True"  # the cycle made before settle was collected, not frozen
    assert frozen == "True"
    assert still_walked == "False"  # gc.get_objects() lists no frozen object
    assert young == "5000"
    assert float(switch) == 0.002  # a thread holds the GIL at most 2 ms while the loop waits
