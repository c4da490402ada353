"""Measure how long the event loop was unable to run callbacks: the proof that nothing blocks.

A probe task sleeps for ``interval`` again and again; whenever it wakes up later than asked,
the excess is time the loop spent stuck in some callback (a blocking call, a long computation)
or time the operating system did not let the loop's thread run at all.

On a busy shared machine the second cause can dominate, and it says nothing about the code
under test. Where Linux reports it (``/proc/thread-self/schedstat``: time spent runnable but
waiting for a CPU), ``max_blocked`` subtracts it from each stall; elsewhere it equals
``max_lag``. Time spent waiting for the GIL is *not* subtracted: a thread hogging the GIL
stalls the loop as surely as a blocking call does.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from types import TracebackType

__all__ = ["LoopLagProbe"]

_SCHEDSTAT = "/proc/thread-self/schedstat"


def _runqueue_seconds() -> float | None:
    """Seconds the calling thread has spent waiting for a CPU so far (Linux), else ``None``."""
    try:
        with open(_SCHEDSTAT, encoding="ascii") as stats:
            return int(stats.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


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
        while True:
            waited_before = _runqueue_seconds()
            before = time.perf_counter()
            await asyncio.sleep(interval)
            lag = max(0.0, time.perf_counter() - before - interval)
            waited_after = _runqueue_seconds()
            descheduled = 0.0
            if waited_before is not None and waited_after is not None:
                descheduled = waited_after - waited_before
            self.samples += 1
            self.max_lag = max(self.max_lag, lag)
            self.max_blocked = max(self.max_blocked, lag - descheduled)

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
