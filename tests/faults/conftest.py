"""Shared pieces of the reliability suite: configs that recover fast, bounded waits, tables.

Every wait here is bounded: a fault test that hangs proves nothing, so each helper gives up
after a generous deadline and lets the assertion that follows fail with a clear message.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from cassandra.policies import ConstantReconnectionPolicy

from cassandra_asgi import AsyncSession, CassandraConfig, connect
from cassandra_asgi.testing import CQLServer

#: A trivial query every node answers from local state.
PING = "SELECT release_version FROM system.local"
#: Added to a configured timeout before a test calls something "hung" (a busy 2-core machine).
MARGIN = 5.0
#: ``request_timeout`` of the ``fault_session`` fixture.
FAULT_REQUEST_TIMEOUT = 5.0


def fast_recovery_options() -> dict[str, Any]:
    """Driver options that notice a dead node and reconnect to it within a fraction of a second."""
    return {
        "reconnection_policy": ConstantReconnectionPolicy(0.2, max_attempts=None),
        "idle_heartbeat_interval": 1,
        "idle_heartbeat_timeout": 2,
    }


def server_config(server: CQLServer, **overrides: Any) -> CassandraConfig:
    """A config for one in-memory server (``overrides`` win)."""
    return CassandraConfig(contact_points=[server.contact_point], **overrides)


def unused_port() -> int:
    """A local TCP port nothing listens on (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def eventually(condition: Callable[[], bool], *, within: float) -> bool:
    """Poll ``condition`` on the loop until it holds or ``within`` seconds pass."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def serves_again(session: AsyncSession, *, within: float) -> Any:
    """Retry a trivial query until the driver has reconnected; return its row (or raise)."""
    deadline = time.monotonic() + within
    while True:
        try:
            return (await session.execute(PING, timeout=1.0)).one()
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def create_keyspace(session: AsyncSession, name: str) -> None:
    await session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {name} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )


@pytest.fixture
async def fault_session(cql_server: CQLServer) -> AsyncIterator[AsyncSession]:
    """A session on ``cql_server`` in a fresh keyspace ``faults``, tuned to recover quickly."""
    config = server_config(
        cql_server, request_timeout=FAULT_REQUEST_TIMEOUT, **fast_recovery_options()
    )
    async with connect(config) as session:
        await create_keyspace(session, "faults")
        await session.execute("USE faults")
        yield session
