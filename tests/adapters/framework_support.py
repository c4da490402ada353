"""What the FastAPI, Litestar and Quart adapter tests share: startup hooks that leave a trace,
a second cluster, an unreachable one, and a way to know a server's shutdown has begun.

A "cluster label" is a row each cluster's ``on_connect`` hook writes, so a handler can prove
which cluster its session talks to by reading it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import uvicorn

from cassandra_asgi import AsyncSession, CassandraConfig
from cassandra_asgi.testing import CQLServer

# The example tests' uvicorn runner, imported by the name those tests use (tests/examples is
# not a package, and pytest puts it on sys.path only once it collects a test there).
_EXAMPLE_TESTS = str(Path(__file__).resolve().parents[1] / "examples")
if _EXAMPLE_TESTS not in sys.path:
    sys.path.append(_EXAMPLE_TESTS)
from example_servers import serving_uvicorn  # noqa: E402

__all__ = [
    "RELEASE_QUERY",
    "RecordingHook",
    "another_cluster",
    "cluster_label",
    "failing_hook",
    "release_version",
    "serving_uvicorn",
    "shutdown_has_begun",
    "sole_cause",
    "unreachable_config",
    "until_shutdown_begins",
]

RELEASE_QUERY = "SELECT release_version FROM system.local"
#: Bound for a test's server to begin shutting down once asked; never a speed check.
SHUTDOWN_WAIT = 60.0


class RecordingHook:
    """An ``on_connect`` hook that records each session it is given and, with a ``label``,
    writes that label into ``<keyspace>.origin`` on the cluster it connected to."""

    def __init__(self, label: str | None = None, keyspace: str | None = None) -> None:
        if (label is None) != (keyspace is None):
            raise ValueError("label and keyspace go together")
        self.label = label
        self.keyspace = keyspace
        self.sessions: list[AsyncSession] = []

    async def __call__(self, session: AsyncSession) -> None:
        self.sessions.append(session)
        if self.label is None:
            return
        await session.execute(
            f"CREATE KEYSPACE IF NOT EXISTS {self.keyspace} WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        await session.execute(
            f"CREATE TABLE IF NOT EXISTS {self.keyspace}.origin (k int PRIMARY KEY, label text)"
        )
        await session.execute(
            f"INSERT INTO {self.keyspace}.origin (k, label) VALUES (0, %s)", (self.label,)
        )


def failing_hook() -> tuple[Callable[[AsyncSession], Awaitable[None]], list[AsyncSession]]:
    """An ``on_connect`` hook named ``create_schema`` that fails (``RuntimeError: disk full``)
    after connecting, and the list of sessions it was given."""
    connected: list[AsyncSession] = []

    async def create_schema(session: AsyncSession) -> None:
        connected.append(session)
        raise RuntimeError("disk full")

    return create_schema, connected


async def cluster_label(session: AsyncSession, keyspace: str) -> str:
    """The label the ``RecordingHook`` of this session's cluster wrote."""
    row = (await session.execute(f"SELECT label FROM {keyspace}.origin WHERE k = 0")).one()
    assert row is not None, "no label: the session's cluster never ran a labelling hook"
    return str(row[0])


async def release_version(session: AsyncSession) -> str:
    row = (await session.execute(RELEASE_QUERY)).one()
    return str(row[0])


@contextlib.contextmanager
def another_cluster() -> Iterator[CassandraConfig]:
    """Settings for a second cluster: a fresh in-memory server of its own."""
    with CQLServer() as server:
        yield CassandraConfig(contact_points=(server.host,), port=server.port)


def unreachable_config() -> tuple[CassandraConfig, str]:
    """A config whose only contact point is a loopback port nothing listens on, and that
    contact point as error messages spell it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    config = CassandraConfig(contact_points=("127.0.0.1",), port=port, connect_timeout=2.0)
    return config, f"127.0.0.1:{port}"


def sole_cause(exc: BaseException) -> BaseException:
    """The one exception inside ``exc``, unwrapping the exception groups task groups raise
    (Litestar's ``AsyncTestClient`` runs the app in one)."""
    while isinstance(exc, BaseExceptionGroup):
        assert len(exc.exceptions) == 1, f"expected one exception, got {exc.exceptions!r}"
        exc = exc.exceptions[0]
    return exc


def shutdown_has_begun(server: uvicorn.Server) -> bool:
    """True once uvicorn has stopped accepting connections: it now waits for the requests in
    flight and only then runs the application's lifespan shutdown."""
    return bool(server.servers) and not any(s.is_serving() for s in server.servers)


async def until_shutdown_begins(server: uvicorn.Server) -> None:
    async with asyncio.timeout(SHUTDOWN_WAIT):
        # uvicorn signals nothing when it stops accepting: poll the listening sockets.
        while not shutdown_has_begun(server):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
