"""Measure how long the event loop was unable to run callbacks: the proof that nothing blocks.

A probe task sleeps for ``interval`` again and again; whenever it wakes up later than asked,
the excess is time the loop spent stuck in some callback (a blocking call, a long computation)
or time the operating system did not let the loop's thread run at all.

On a busy shared machine the second cause can dominate, and it says nothing about the code
under test. Where Linux reports it (``/proc/self/task/*/schedstat``: time each thread spent
runnable but waiting for a CPU), ``max_blocked`` subtracts it from each stall: the loop
thread's own wait, plus the longest wait of any other thread of the process, since a thread
preempted while it holds the GIL keeps the loop from running for as long as it waits.
Elsewhere only the collector's time (below) is subtracted. Time spent waiting for a GIL
holder that *is* running is not subtracted: a thread hogging the GIL stalls the loop as surely
as a blocking call does. On an idle machine no thread waits for a CPU and the two figures agree.

Nor does ``max_blocked`` count the cyclic garbage collector's pauses (``max_gc_pause`` reports
the longest): a full collection walks every object of the process while holding the GIL, so
its length measures the heap, not the code under test: 20-50 ms in a test process that has
run a few tests, over 200 ms after a thousand, a millisecond or two in a server that called
``gc.freeze()`` after startup. Only the part of a collection that fell within a stall is
forgiven.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import threading
import time
from types import TracebackType

__all__ = ["LoopLagProbe"]

_TASKS = "/proc/self/task"
#: Samples between two readings of every thread's waits, when no stall asked for one sooner.
_FULL_READING_EVERY = 20
#: A stall shorter than this (seconds) is not worth reading every thread's waits for.
_WORTH_EXPLAINING = 0.001


def _waited(path: str) -> float | None:
    """Seconds the thread behind ``path`` (a schedstat file) has waited for a CPU so far."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            return int(os.read(fd, 128).split()[1]) / 1e9
        finally:
            os.close(fd)
    except (OSError, IndexError, ValueError):
        return None


def _waits_of_other_threads() -> dict[str, float]:
    own = str(threading.get_native_id())
    try:
        tids = os.listdir(_TASKS)
    except OSError:
        return {}
    waits = {}
    for tid in tids:
        if tid != own and (wait := _waited(f"{_TASKS}/{tid}/schedstat")) is not None:
            waits[tid] = wait
    return waits


class LoopLagProbe:
    """``async with LoopLagProbe(interval=0.005) as probe: ...`` then read ``probe.max_lag``."""

    def __init__(self, interval: float = 0.005) -> None:
        if not interval > 0:
            raise ValueError(f"interval: expected a positive number of seconds, got {interval!r}")
        self.interval = interval
        #: Longest delay beyond ``interval`` seen while the block ran (seconds).
        self.max_lag = 0.0
        #: Longest delay not explained by the OS keeping threads off the CPU, nor by garbage
        #: collection (seconds).
        self.max_blocked = 0.0
        #: Longest garbage collection while the block ran, on any thread (seconds).
        self.max_gc_pause = 0.0
        #: Number of wake-ups measured.
        self.samples = 0
        #: Collections (start, end) since the last wake-up, appended by ``_on_gc``.
        self._collections: list[tuple[float, float]] = []
        self._collection_started = 0.0
        self._task: asyncio.Task[None] | None = None
        self._started = asyncio.Event()

    async def _run(self) -> None:
        interval = self.interval
        self._started.set()
        # The loop thread's own wait is read at every wake-up (cheap); every thread's only when
        # a stall needs explaining, and now and then, so the probe costs the loop little. The
        # other threads' growth is then measured from the last such reading: on an idle
        # machine it is zero whatever the window, under load it may forgive a little more.
        own_path = f"{_TASKS}/{threading.get_native_id()}/schedstat"
        own_waited = _waited(own_path)
        others_waited = _waits_of_other_threads()
        while True:
            due = time.perf_counter() + interval
            await asyncio.sleep(interval)
            woke = time.perf_counter()
            lag = max(0.0, woke - due)
            gcs, self._collections = self._collections, []
            collecting = sum(max(0.0, min(end, woke) - max(start, due)) for start, end in gcs)
            own_now = _waited(own_path)
            descheduled = 0.0
            if own_now is not None and own_waited is not None:
                descheduled = own_now - own_waited
            own_waited = own_now
            self.samples += 1
            unexplained = lag - descheduled > _WORTH_EXPLAINING
            if unexplained or self.samples % _FULL_READING_EVERY == 0:
                others_now = _waits_of_other_threads()
                if unexplained:
                    growth = (
                        others_now[t] - others_waited[t]
                        for t in others_now.keys() & others_waited.keys()
                    )
                    descheduled += max(growth, default=0.0)
                others_waited = others_now
            self.max_lag = max(self.max_lag, lag)
            self.max_blocked = max(self.max_blocked, lag - descheduled - collecting, 0.0)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        # Collections never overlap (the collector holds the GIL): one start time suffices.
        now = time.perf_counter()
        if phase == "start":
            self._collection_started = now
            return
        self._collections.append((self._collection_started, now))
        self.max_gc_pause = max(self.max_gc_pause, now - self._collection_started)

    async def __aenter__(self) -> LoopLagProbe:
        gc.callbacks.append(self._on_gc)
        self._task = asyncio.get_running_loop().create_task(self._run())
        await self._started.wait()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            # One more full interval, so a stall at the very end of the block is measured too.
            await asyncio.sleep(self.interval * 2)
        finally:
            task = self._task
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            with contextlib.suppress(ValueError):
                gc.callbacks.remove(self._on_gc)
