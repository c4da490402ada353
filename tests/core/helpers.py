"""Small shared steps for the core tests (tables, data, bounded polling)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from cassandra_asgi import AsyncSession


async def create_rows_table(session: AsyncSession, table: str = "rows") -> None:
    """A one-partition table ``(p int, c int, v text)`` clustered by ``c``."""
    await session.execute(
        f"CREATE TABLE IF NOT EXISTS {table} (p int, c int, v text, PRIMARY KEY (p, c))"
    )


async def fill_rows(
    session: AsyncSession, count: int, *, table: str = "rows", value_size: int = 8, batch: int = 1
) -> None:
    """Insert rows ``c = 0 .. count-1`` into partition ``p = 0`` (``batch`` rows per statement)."""
    value = "x" * value_size
    if batch == 1:
        insert = await session.prepare(f"INSERT INTO {table} (p, c, v) VALUES (0, ?, ?)")
        await session.execute_concurrent(
            [(insert, (c, value)) for c in range(count)], concurrency=200
        )
        return
    statements = []
    for start in range(0, count, batch):
        body = " ".join(
            f"INSERT INTO {table} (p, c, v) VALUES (0, {c}, '{value}');"
            for c in range(start, min(start + batch, count))
        )
        statements.append((f"BEGIN UNLOGGED BATCH {body} APPLY BATCH", None))
    await session.execute_concurrent(statements, concurrency=32)


async def eventually(condition: Callable[[], bool], *, within: float = 10.0) -> bool:
    """Poll ``condition`` on the loop until it holds or ``within`` seconds pass."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True
