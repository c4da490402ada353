"""Measure how long the event loop was unable to run callbacks: the proof that nothing blocks.

A probe task sleeps for ``interval`` again and again; whenever it wakes up later than asked,
the excess is time the loop spent stuck in some callback (a blocking call, a long computation)
or time the operating system did not let the loop's thread run at all.

On a busy shared machine the second cause can dominate, and it says nothing about the code
under test. Where Linux reports it (``/proc/self/task/*/schedstat``: time each thread spent
runnable but waiting for a CPU), ``max_blocked`` subtracts it from each stall: the loop
thread's own wait, plus the longest wait of any other thread of the process, since a thread
preempted while it holds the GIL keeps the loop from running for as long as it waits.
Elsewhere ``max_blocked`` equals ``max_lag``. Time spent waiting for a GIL holder that *is*
running is not subtracted: a thread hogging the GIL stalls the loop as surely as a blocking
call does. On an idle machine no thread waits for a CPU and the two figures agree.
"""

from __future__ import annotations

import asyncio
import contextlib
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
        #: Longest delay not explained by the OS keeping the loop's thread off the CPU (seconds).
        self.max_blocked = 0.0
        #: Number of wake-ups measured.
        self.samples = 0
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
            before = time.perf_counter()
            await asyncio.sleep(interval)
            lag = max(0.0, time.perf_counter() - before - interval)
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
            self.max_blocked = max(self.max_blocked, lag - descheduled, 0.0)

    async def __aenter__(self) -> LoopLagProbe:
        self._task = asyncio.get_running_loop().create_task(self._run())
        await self._started.wait()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # One more full interval, so a stall at the very end of the block is measured too.
        await asyncio.sleep(self.interval * 2)
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
