"""Node down at startup: the application refuses to start, quickly and saying where it looked.

Two kinds of dead node: one that refuses connections (the process is gone) and one that
accepts TCP connections but never answers (a hung process, a black-holing firewall). Both must
fail startup within ``connect_timeout`` plus a margin, never hang, and name the contact point.
Neither needs the in-memory server, so these run against a real-cluster setup too.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from asgiref.testing import ApplicationCommunicator

from cassandra_asgi import CassandraConfig, ConnectError
from cassandra_asgi.adapters.aiohttp import setup
from cassandra_asgi.adapters.asgi import CassandraMiddleware

from .conftest import MARGIN, unused_port

CONNECT_TIMEOUT = 2.0


@pytest.fixture
def hung_node() -> Iterator[str]:
    """``host:port`` of a socket that completes TCP handshakes and then never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)  # the kernel accepts on our behalf; nobody ever reads or writes
        yield f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(params=["refusing", "hung"])
def dead_node(request: pytest.FixtureRequest) -> str:
    if request.param == "refusing":
        return f"127.0.0.1:{unused_port()}"
    hung: str = request.getfixturevalue("hung_node")
    return hung


def config_for(contact_point: str) -> CassandraConfig:
    return CassandraConfig(contact_points=[contact_point], connect_timeout=CONNECT_TIMEOUT)


async def passthrough_app(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("the wrapped application must not run when startup failed")


async def test_asgi_startup_fails_within_connect_timeout_naming_the_contact_point(
    dead_node: str,
) -> None:
    middleware = CassandraMiddleware(passthrough_app, config_for(dead_node))
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    server = ApplicationCommunicator(middleware, scope)  # type: ignore[no-untyped-call]
    started = time.monotonic()
    await server.send_input({"type": "lifespan.startup"})  # type: ignore[no-untyped-call]
    message = await server.receive_output(  # type: ignore[no-untyped-call]
        timeout=CONNECT_TIMEOUT + MARGIN
    )
    elapsed = time.monotonic() - started
    assert message["type"] == "lifespan.startup.failed"
    assert dead_node in message["message"]
    assert elapsed < CONNECT_TIMEOUT + MARGIN
    with pytest.raises(ConnectError, match=dead_node):
        await server.wait(timeout=MARGIN)  # type: ignore[no-untyped-call]


async def test_aiohttp_startup_raises_within_connect_timeout_naming_the_contact_point(
    dead_node: str,
) -> None:
    app = web.Application()
    setup(app, config_for(dead_node))
    server = TestServer(app)
    started = time.monotonic()
    try:
        with pytest.raises(ConnectError, match=dead_node):
            await asyncio.wait_for(server.start_server(), CONNECT_TIMEOUT + MARGIN)
        assert time.monotonic() - started < CONNECT_TIMEOUT + MARGIN
    finally:
        await server.close()
