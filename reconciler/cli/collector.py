"""The process's cyclic garbage collector: off while a command builds its run, on while it waits.

A command builds millions of objects (the specs, the state, the plan) that live until it ends
and hold no reference cycles: reference counting frees what dies, and the collector's scans
find next to nothing (a steady ``apply`` of 50,000 specs: under 2,000 objects in 80 scans).
Those scans are not free, and they are not linear: a young collection walks 100,000 new
objects and touches whatever they point to across the whole heap, so its cost per object
grows with the heap (0.07 s of CPU at 10,000 specs, 0.4 s at 50,000). So the process
(:func:`tune`, from :func:`reconciler.cli.entrypoint` only, never for a caller of ``main``)
turns automatic collection off; the first wait of a long command (a poll of ``apply --wait``,
a redraw of ``status --watch``, the sandbox's server) calls :func:`resume`, which freezes what
the run built so far and turns it back on, with thresholds that keep its cost linear while the
command goes on. What a command leaves as cyclic garbage before that is at most what one run's
build makes (a cold start of a thousand List calls: about 6,000 objects), and the process ends
with the command.
"""

from __future__ import annotations

import gc

from reconciler.adapters.clock import HostClock

THRESHOLDS = (100_000, 50, 100)
"""Once on: young collections every 100,000 allocations, middle ones every 5 million, a full
one every 500 million (every hundred or so polls of a long ``--wait``)."""


def tune() -> None:
    """No automatic collection until :func:`resume`."""
    # The run's objects hold no cycles, and young scans cost 0.07 s at 10,000 specs, 0.4 s at
    # 50,000 to find under 2,000 objects of garbage (a steady apply 1.00 -> 0.89 s of CPU at
    # 10,000 specs: 24e3d11, bench/README.md).
    gc.disable()


def resume() -> None:
    """Before a command waits (and from then on): what the process built so far (its imports,
    the run) is frozen, never scanned again, and automatic collection is on again. Nothing to
    do when it is on (a caller of ``main``, a second wait)."""
    if not gc.isenabled():
        # Frozen: what was built lives until the process ends, so no collection need walk it
        # again; from here a scan costs what the wait allocates, not the size of the heap.
        gc.freeze()
        gc.set_threshold(*THRESHOLDS)  # large young threshold: few scans per poll
        gc.enable()


class WaitingClock(HostClock):
    """The host's clock, whose sleep (a poll of ``apply --wait``) :func:`resume`\\ s the
    collector first."""

    def sleep(self, seconds: float) -> None:
        resume()
        super().sleep(seconds)
