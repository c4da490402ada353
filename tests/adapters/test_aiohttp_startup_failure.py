"""When the session cannot be opened, the app fails to start and leaves nothing running.

The failure used for the leak checks is a keyspace that does not exist: by the time the driver
finds out, it has already opened its control connection, started its threads and built a pool,
so it is the case where half-built state could be left behind.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Callable
from typing import TypeVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from cassandra_asgi import CassandraConfig, ConnectError
from cassandra_asgi.adapters.aiohttp import CASSANDRA, setup

pytestmark = pytest.mark.filterwarnings("error::aiohttp.web.NotAppKeyWarning")
T = TypeVar("T")
BOUNDED_WAIT = 20.0  # seconds; only ever reached when something is left running
# Threads cassandra-driver 3.30 starts (scheduler, heartbeat, libev reactor, Cluster.executor).
DRIVER_THREAD_PREFIXES = (
    "Task Scheduler",
    "Connection heartbeat",
    "event_loop",
    "ThreadPoolExecutor",
)


def driver_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith(DRIVER_THREAD_PREFIXES)}


def established_connections_to(port: int) -> set[int]:
    """Socket inodes of this process's open TCP connections whose remote port is ``port``."""
    own_inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            own_inodes.add(int(target[len("socket:[") : -1]))
    found = set()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                established = fields[3] == "01"
                inode = int(fields[9])
                if remote_port == port and established and inode in own_inodes:
                    found.add(inode)
    return found


def unreachable(port: int) -> CassandraConfig:
    return CassandraConfig(contact_points=[f"127.0.0.1:{port}"], connect_timeout=2.0)


def app_with_missing_keyspace(config: CassandraConfig) -> web.Application:
    app = web.Application()
    setup(app, config.replace(keyspace=f"missing_{uuid.uuid4().hex[:12]}"))
    return app


async def settled(probe: Callable[[], set[T]]) -> set[T]:
    """Poll ``probe`` until it reports nothing or the bounded wait ends; return what is left."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BOUNDED_WAIT
    while (left := probe()) and loop.time() < deadline:  # noqa: ASYNC110 - other threads' state
        await asyncio.sleep(0.05)
    return left


async def fail_to_start(app: web.Application) -> ConnectError:
    server = TestServer(app)
    with pytest.raises(ConnectError) as raised:
        await server.start_server()
    await server.close()
    return raised.value


async def test_startup_failure_raises_connect_error_naming_the_contact_point(
    unused_tcp_port: int,
) -> None:
    contact_point = f"127.0.0.1:{unused_tcp_port}"
    app = web.Application()
    setup(app, CassandraConfig(contact_points=[contact_point], connect_timeout=2.0))

    error = await fail_to_start(app)

    assert contact_point in str(error)


async def test_startup_failure_notes_which_app_key_failed(unused_tcp_port: int) -> None:
    app = web.Application()
    setup(app, unreachable(unused_tcp_port))

    error = await fail_to_start(app)

    assert any(repr(CASSANDRA) in note for note in getattr(error, "__notes__", []))


async def test_startup_failure_stores_no_session(unused_tcp_port: int) -> None:
    app = web.Application()
    setup(app, unreachable(unused_tcp_port))

    await fail_to_start(app)

    assert CASSANDRA not in app


async def test_startup_failure_leaves_no_driver_threads_running(
    cassandra_config: CassandraConfig,
) -> None:
    before = driver_threads()

    await fail_to_start(app_with_missing_keyspace(cassandra_config))

    assert await settled(lambda: driver_threads() - before) == set()


async def test_startup_failure_leaves_no_connection_to_the_cluster_open(
    cassandra_config: CassandraConfig,
) -> None:
    cluster_port = cassandra_config.endpoints[0][1]
    before = established_connections_to(cluster_port)

    await fail_to_start(app_with_missing_keyspace(cassandra_config))

    assert await settled(lambda: established_connections_to(cluster_port) - before) == set()
