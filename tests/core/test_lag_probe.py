"""LoopLagProbe: sees a blocked loop, stays quiet on an idle one."""

from __future__ import annotations

import asyncio
import time

from cassandra_asgi.testing.lag import LoopLagProbe


async def test_probe_measures_a_blocking_call_on_the_loop() -> None:
    async with LoopLagProbe(interval=0.005) as probe:
        await asyncio.sleep(0.02)
        time.sleep(0.1)  # noqa: ASYNC251 - deliberately block the loop
        await asyncio.sleep(0.02)
    assert probe.max_lag >= 0.08


async def test_probe_takes_samples_while_the_block_runs() -> None:
    async with LoopLagProbe(interval=0.005) as probe:
        await asyncio.sleep(0.1)
    assert probe.samples >= 5
