"""Fixtures for the core tests that need the in-memory server's fault injection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from cassandra_asgi import AsyncSession, CassandraConfig, connect


def server_config(server: Any, **overrides: Any) -> CassandraConfig:
    """A config pointing at one in-memory server."""
    return CassandraConfig(contact_points=[server.contact_point], **overrides)


@pytest.fixture
async def server_session(cql_server: Any) -> AsyncIterator[AsyncSession]:
    """A session on ``cql_server`` using a fresh keyspace ``core`` (in-memory only)."""
    async with connect(server_config(cql_server)) as session:
        await session.execute(
            "CREATE KEYSPACE core WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        await session.execute("USE core")
        yield session
