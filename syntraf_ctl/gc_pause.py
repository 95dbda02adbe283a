"""Python's cyclic garbage collector held off while a large plan is built and rendered."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collection inside the block; the collector's previous state is restored after it, even on
    an exception.

    Why: a plan holds up to millions of objects (edges, their JSON) and holds them until the end, without
    cycles; allocations trigger collections that scan them all again and again (for 600 hosts in a rotating
    group, two thirds of the render's time). Reference counting still frees everything acyclic at once."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
