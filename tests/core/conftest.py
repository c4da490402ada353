"""Fixtures for the core tests that need the in-memory server's fault injection."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from cassandra_asgi import AsyncSession, CassandraConfig, connect
from cassandra_asgi.testing.pytest_plugin import real_cluster_requested


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


@contextlib.contextmanager
def server_process(*options: str) -> Iterator[str]:
    """Run ``python -m cassandra_asgi.testing`` with ``options``; yield its contact point."""
    command = [sys.executable, "-m", "cassandra_asgi.testing", "--host", "127.0.0.1", "--port", "0"]
    server = subprocess.Popen(
        [*command, *options],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith("listening on "), line
        yield line.removeprefix("listening on ").strip()
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def out_of_process_config() -> Iterator[CassandraConfig]:
    """A cluster outside this process: the real one when configured, else an in-memory server
    in a subprocess, so that memory measured here is the client's alone."""
    if real_cluster_requested():
        yield CassandraConfig.from_env()
        return
    with server_process() as contact_point:
        yield CassandraConfig(contact_points=[contact_point])


@pytest.fixture
async def out_of_process_session(
    out_of_process_config: CassandraConfig,
) -> AsyncIterator[AsyncSession]:
    """A session on a fresh keyspace of ``out_of_process_config``, dropped afterwards."""
    name = f"core_{uuid.uuid4().hex[:12]}"
    async with connect(out_of_process_config) as session:
        await session.execute(
            f"CREATE KEYSPACE {name} WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        await session.execute(f"USE {name}")
        try:
            yield session
        finally:
            await session.execute(f"DROP KEYSPACE {name}")
