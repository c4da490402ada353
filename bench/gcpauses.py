"""Time the cyclic garbage collector's pauses while a block runs.

A full (generation 2) collection walks every tracked object in the process while holding the
GIL, whatever thread triggered it; with a few hundred thousand objects alive that is tens of
milliseconds during which the event loop cannot run. Streaming allocates a tuple per row, so
it triggers such collections regularly: this is how the bench tells those pauses apart from
anything the code under test does.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GcPauses", "frozen_gc", "record_gc_pauses"]


@dataclass
class GcPauses:
    #: Longest pause per generation (seconds) and how many collections each generation ran.
    longest: dict[int, float] = field(default_factory=dict)
    count: dict[int, int] = field(default_factory=dict)
    _started: float = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        # Collections never overlap (the collector holds the GIL), so one start time suffices.
        if phase == "start":
            self._started = time.perf_counter()
            return
        generation = int(info["generation"])
        pause = time.perf_counter() - self._started
        self.count[generation] = self.count.get(generation, 0) + 1
        self.longest[generation] = max(self.longest.get(generation, 0.0), pause)

    @property
    def longest_ms(self) -> float:
        return max(self.longest.values(), default=0.0) * 1000.0

    @property
    def full_collections(self) -> int:
        return self.count.get(2, 0)


@contextmanager
def record_gc_pauses() -> Iterator[GcPauses]:
    pauses = GcPauses()
    gc.callbacks.append(pauses._callback)
    try:
        yield pauses
    finally:
        gc.callbacks.remove(pauses._callback)


@contextmanager
def frozen_gc() -> Iterator[int]:
    """``gc.freeze()`` for the block: everything alive now is never scanned again.

    This is what long-running servers do after startup (everything loaded at startup lives
    for the whole process); it leaves only young objects for full collections to walk.
    Yields how many objects were frozen.
    """
    gc.collect()
    gc.freeze()
    try:
        yield gc.get_freeze_count()
    finally:
        gc.unfreeze()
