"""Small shared steps for the core tests (tables, data, bounded polling)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from cassandra.query import BatchStatement, BatchType

from cassandra_asgi import AsyncSession


async def create_rows_table(session: AsyncSession, table: str = "rows") -> None:
    """A one-partition table ``(p int, c int, v text)`` clustered by ``c``."""
    await session.execute(
        f"CREATE TABLE IF NOT EXISTS {table} (p int, c int, v text, PRIMARY KEY (p, c))"
    )


async def fill_rows(session: AsyncSession, count: int, *, table: str = "rows") -> None:
    """Insert rows ``c = 0 .. count-1`` into partition ``p = 0``."""
    insert = await session.prepare(f"INSERT INTO {table} (p, c, v) VALUES (0, ?, ?)")
    await session.execute_concurrent([(insert, (c, str(c))) for c in range(count)], concurrency=200)


async def fill_partitions(
    session: AsyncSession, partitions: int, rows_per_partition: int, *, value_size: int = 100
) -> None:
    """Fill table ``rows`` with single-partition batches, each under Cassandra's 5 KB batch
    size warning threshold."""
    insert = await session.prepare("INSERT INTO rows (p, c, v) VALUES (?, ?, ?)")
    value = "x" * value_size
    per_batch = max(1, 4000 // (value_size + 16))
    batches = []
    for p in range(partitions):
        for start in range(0, rows_per_partition, per_batch):
            batch = BatchStatement(batch_type=BatchType.UNLOGGED)
            for c in range(start, min(start + per_batch, rows_per_partition)):
                batch.add(insert, (p, c, value))
            batches.append((batch, None))
    await session.execute_concurrent(batches, concurrency=32)


async def eventually(condition: Callable[[], bool], *, within: float = 10.0) -> bool:
    """Poll ``condition`` on the loop until it holds or ``within`` seconds pass."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def ticks_while(consume: Callable[[], Awaitable[object]]) -> int:
    """How often another task got to run while ``consume()`` was awaited."""
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.ensure_future(ticker())
    await asyncio.sleep(0)
    start = ticks
    try:
        await consume()
    finally:
        task.cancel()
    return ticks - start
