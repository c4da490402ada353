"""The aiohttp adapter under a real ``aiohttp.web`` server listening on a TCP socket.

Two servers: ``web.AppRunner`` + ``web.TCPSite`` in the test's own loop (so the test can watch the
session), and ``python -m aiohttp.web`` in a subprocess, which runs ``web.run_app`` with its
signal handling exactly as a deployment would. ``make_app`` below is that subprocess's entry point.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from cassandra_asgi import CassandraConfig, connect
from cassandra_asgi.adapters.aiohttp import CASSANDRA, get_session, setup
from cassandra_asgi.testing import CQLServer

pytestmark = pytest.mark.filterwarnings("error::aiohttp.web.NotAppKeyWarning")
CHECKOUT = Path(__file__).resolve().parents[2]
IN_FLIGHT_REQUESTS = 20
BOUNDED_WAIT = 20.0  # seconds; only ever reached when something is broken


async def store_handler(request: web.Request) -> web.Response:
    """Two queries in a row: a session closed as soon as shutdown begins would fail the second."""
    session = get_session(request)
    write_id = int(request.match_info["id"])
    await session.execute("INSERT INTO writes (id) VALUES (%s)", (write_id,))
    stored = await session.execute("SELECT id FROM writes WHERE id = %s", (write_id,))
    return web.Response(text="stored" if stored.one() is not None else "lost")


async def in_flight_handler(request: web.Request) -> web.Response:
    return web.json_response(get_session(request).in_flight)


def writes_app(config: CassandraConfig | None) -> web.Application:
    app = web.Application()
    setup(app, config)
    app.router.add_post("/writes/{id}", store_handler)
    app.router.add_get("/in-flight", in_flight_handler)
    return app


def make_app(argv: list[str]) -> web.Application:
    """Entry point for ``python -m aiohttp.web``: settings come from ``CASSANDRA_*``."""
    return writes_app(None)


async def create_writes_table(config: CassandraConfig) -> None:
    async with connect(config) as session:
        await session.execute("CREATE TABLE writes (id int PRIMARY KEY)")


async def stored_ids(config: CassandraConfig) -> set[int]:
    async with connect(config) as session:
        return {row.id async for row in await session.execute("SELECT id FROM writes")}


async def post_outcome(client: aiohttp.ClientSession, url: str) -> str:
    async with client.post(url) as response:
        return f"{response.status} {await response.text()}"


async def wait_until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    async with asyncio.timeout(BOUNDED_WAIT):
        while not await condition():  # noqa: ASYNC110 - polls state outside this loop
            await asyncio.sleep(0.01)
    del what  # named only so a timeout's traceback says what was awaited


def subprocess_env(contact_point: str, keyspace: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASSANDRA_")}
    env.update(CASSANDRA_CONTACT_POINTS=contact_point, CASSANDRA_KEYSPACE=keyspace)
    return env


async def start_aiohttp_web(env: dict[str, str], port: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aiohttp.web",
        "-H",
        "127.0.0.1",
        "-P",
        str(port),
        "tests.adapters.test_aiohttp_server:make_app",
        cwd=CHECKOUT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def port_accepts(process: asyncio.subprocess.Process, port: int) -> bool:
    if process.returncode is not None:
        assert process.stderr is not None
        raise AssertionError(f"server exited early: {(await process.stderr.read()).decode()}")
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


@pytest.mark.memory_only
async def test_app_runner_shutdown_lets_in_flight_requests_finish_their_queries(
    cql_server: CQLServer, cassandra_config: CassandraConfig, keyspace: str
) -> None:
    config = cassandra_config.replace(keyspace=keyspace)
    await create_writes_table(config)
    app = writes_app(config)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    session = app[CASSANDRA]
    cql_server.add_latency(0.3, pattern="INSERT")

    async def all_in_flight() -> bool:
        return session.in_flight >= IN_FLIGHT_REQUESTS

    async with aiohttp.ClientSession() as client:
        posts = [
            asyncio.create_task(post_outcome(client, f"{base_url}/writes/{i}"))
            for i in range(IN_FLIGHT_REQUESTS)
        ]
        await wait_until(all_in_flight, "every request to be waiting on Cassandra")
        await runner.cleanup()
        assert session.closed
        outcomes = await asyncio.gather(*posts)

    assert outcomes == ["200 stored"] * IN_FLIGHT_REQUESTS
    assert await stored_ids(config) == set(range(IN_FLIGHT_REQUESTS))


@pytest.mark.memory_only
async def test_run_app_finishes_in_flight_requests_when_sent_sigterm(
    cql_server: CQLServer, cassandra_config: CassandraConfig, keyspace: str, unused_tcp_port: int
) -> None:
    config = cassandra_config.replace(keyspace=keyspace)
    await create_writes_table(config)
    port = unused_tcp_port
    process = await start_aiohttp_web(subprocess_env(cql_server.contact_point, keyspace), port)
    try:
        await wait_until(lambda: port_accepts(process, port), "the server to listen")
        cql_server.add_latency(0.5, pattern="INSERT")
        base_url = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as client:

            async def all_in_flight() -> bool:
                async with client.get(f"{base_url}/in-flight") as response:
                    return int(await response.json()) >= IN_FLIGHT_REQUESTS

            posts = [
                asyncio.create_task(post_outcome(client, f"{base_url}/writes/{i}"))
                for i in range(IN_FLIGHT_REQUESTS)
            ]
            await wait_until(all_in_flight, "every request to be waiting on Cassandra")
            process.send_signal(signal.SIGTERM)
            outcomes = await asyncio.gather(*posts)
        async with asyncio.timeout(BOUNDED_WAIT):
            returncode = await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert outcomes == ["200 stored"] * IN_FLIGHT_REQUESTS
    assert returncode == 0
    assert await stored_ids(config) == set(range(IN_FLIGHT_REQUESTS))


async def test_run_app_exits_with_an_error_naming_an_unreachable_cluster(
    unused_tcp_port_factory: Callable[[], int],
) -> None:
    dead_contact_point = f"127.0.0.1:{unused_tcp_port_factory()}"
    env = subprocess_env(dead_contact_point, "anything")
    env["CASSANDRA_CONNECT_TIMEOUT"] = "2"
    port = unused_tcp_port_factory()
    process = await start_aiohttp_web(env, port)
    try:  # a driver thread left running would keep the process from exiting
        async with asyncio.timeout(BOUNDED_WAIT):
            _, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert process.returncode not in (0, None)
    assert "ConnectError" in stderr.decode()
    assert dead_contact_point in stderr.decode()
