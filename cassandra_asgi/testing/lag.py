"""Measure how long the event loop was unable to run callbacks: the proof that nothing blocks.

A probe task sleeps for ``interval`` again and again; whenever it wakes up later than asked,
the excess is time the loop spent stuck in some callback (a blocking call, a long computation).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from types import TracebackType

__all__ = ["LoopLagProbe"]


class LoopLagProbe:
    """``async with LoopLagProbe(interval=0.005) as probe: ...`` then read ``probe.max_lag``."""

    def __init__(self, interval: float = 0.005) -> None:
        if not interval > 0:
            raise ValueError(f"interval: expected a positive number of seconds, got {interval!r}")
        self.interval = interval
        #: Longest delay beyond ``interval`` seen while the block ran (seconds).
        self.max_lag = 0.0
        #: Number of wake-ups measured.
        self.samples = 0
        self._task: asyncio.Task[None] | None = None
        self._started = asyncio.Event()

    async def _run(self) -> None:
        interval = self.interval
        self._started.set()
        while True:
            before = time.perf_counter()
            await asyncio.sleep(interval)
            lag = time.perf_counter() - before - interval
            self.samples += 1
            if lag > self.max_lag:
                self.max_lag = lag

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
