"""The FastAPI, Litestar and Quart adapters under real servers, over real HTTP: uvicorn for
each (in a thread, so a test can watch the server begin its shutdown), and granian for the
Litestar plugin (in its own process, configured from the ``CASSANDRA_*`` variables). Last, the
event loop never stalls while the plugin or the extension connects and closes."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from framework_support import (
    RecordingHook,
    release_version,
    serving_uvicorn,
    shutdown_has_begun,
    unreachable_config,
    until_shutdown_begins,
)
from litestar import Litestar, get
from litestar.di import NamedDependency
from quart import Quart
from test_asgi_servers import WAIT, ServerProcess, environment_for

from cassandra_asgi import AsyncSession, CassandraConfig, CassandraMiddleware
from cassandra_asgi.adapters import quart as quart_adapter
from cassandra_asgi.adapters.fastapi import CassandraSession
from cassandra_asgi.adapters.litestar import CassandraPlugin
from cassandra_asgi.testing import CQLServer
from cassandra_asgi.testing.lag import LoopLagProbe

pytestmark = pytest.mark.slow
#: Longest loop stall tolerated while connecting and closing, as for the middleware's own
#: check (tests/adapters/test_asgi_lifespan.py): typical stalls are ~10 ms.
MAX_STALL = 0.4


class InFlight:
    """Lets a ``/slow`` request wait, on the server's loop, until the server has begun its
    shutdown, and records what it then saw."""

    def __init__(self) -> None:
        self.server: uvicorn.Server | None = None
        self.entered = threading.Event()
        self.shutdown_had_begun: bool | None = None

    async def answer_during_shutdown(self, session: AsyncSession) -> dict[str, str]:
        self.entered.set()
        assert self.server is not None
        await until_shutdown_begins(self.server)
        release = await release_version(session)  # the session must still be open
        self.shutdown_had_begun = shutdown_has_begun(self.server)
        return {"release": release}


def fastapi_app(config: CassandraConfig, hook: RecordingHook, in_flight: InFlight) -> Any:
    app = FastAPI()

    @app.get("/session")
    async def which_session(session: CassandraSession) -> dict[str, object]:
        return {"id": id(session), "release": await release_version(session)}

    @app.get("/slow")
    async def slow(session: CassandraSession) -> dict[str, str]:
        return await in_flight.answer_during_shutdown(session)

    app.add_middleware(CassandraMiddleware, config=config, on_connect=hook)
    return app


def litestar_app(config: CassandraConfig, hook: RecordingHook, in_flight: InFlight) -> Any:
    @get("/session")
    async def which_session(cassandra: NamedDependency[AsyncSession]) -> dict[str, object]:
        return {"id": id(cassandra), "release": await release_version(cassandra)}

    @get("/slow")
    async def slow(cassandra: NamedDependency[AsyncSession]) -> dict[str, str]:
        return await in_flight.answer_during_shutdown(cassandra)

    return Litestar([which_session, slow], plugins=[CassandraPlugin(config, on_connect=hook)])


def quart_app(config: CassandraConfig, hook: RecordingHook, in_flight: InFlight) -> Any:
    app = Quart(__name__)
    quart_adapter.Cassandra(app, config, on_connect=hook)

    @app.get("/session")
    async def which_session() -> dict[str, object]:
        session = quart_adapter.get_session()
        return {"id": id(session), "release": await release_version(session)}

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        return await in_flight.answer_during_shutdown(quart_adapter.get_session())

    return app


APPS: dict[str, Callable[[CassandraConfig, RecordingHook, InFlight], Any]] = {
    "fastapi": fastapi_app,
    "litestar": litestar_app,
    "quart": quart_app,
}


@pytest.fixture(params=sorted(APPS))
def framework(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def test_uvicorn_serves_every_request_from_the_one_app_session(
    framework: str, cassandra_config: CassandraConfig
) -> None:
    hook = RecordingHook()
    app = APPS[framework](cassandra_config, hook, InFlight())

    with serving_uvicorn(app) as (url, _), httpx.Client(base_url=url, timeout=WAIT) as client:
        answers = [client.get("/session") for _ in range(10)]

    assert [answer.status_code for answer in answers] == [200] * 10
    assert {answer.json()["id"] for answer in answers} == {id(hook.sessions[0])}
    assert all(answer.json()["release"] for answer in answers)
    assert len(hook.sessions) == 1


def test_uvicorn_shutdown_closes_the_session_after_the_request_in_flight(
    framework: str, cassandra_config: CassandraConfig
) -> None:
    hook = RecordingHook()
    in_flight = InFlight()
    app = APPS[framework](cassandra_config, hook, in_flight)

    with serving_uvicorn(app) as (url, server), ThreadPoolExecutor(1) as pool:
        in_flight.server = server
        pending = pool.submit(httpx.get, f"{url}/slow", timeout=WAIT)
        assert in_flight.entered.wait(WAIT), "the request never reached its handler"
        server.should_exit = True  # a graceful shutdown, as on SIGINT or SIGTERM
        response = pending.result(timeout=WAIT)
        open_when_answered = not hook.sessions[0].closed

    assert response.status_code == 200, response.text
    assert response.json()["release"]
    assert in_flight.shutdown_had_begun
    assert open_when_answered
    assert hook.sessions[0].closed


def test_uvicorn_refuses_to_start_when_cassandra_is_down(framework: str) -> None:
    config, _ = unreachable_config()
    app = APPS[framework](config, RecordingHook(), InFlight())

    with pytest.raises(RuntimeError, match="failed to start"), serving_uvicorn(app):
        pytest.fail("uvicorn served the app without Cassandra")


GRANIAN_APP = """
from litestar import Litestar, get
from litestar.di import NamedDependency

from cassandra_asgi import AsyncSession
from cassandra_asgi.adapters.litestar import CassandraPlugin
from cassandra_asgi.testing import CQLServer
from cassandra_asgi.testing.lag import LoopLagProbe

sessions = []


async def remember(session):
    sessions.append(session)


@get("/session")
async def which_session(cassandra: NamedDependency[AsyncSession]) -> dict:
    row = (await cassandra.execute("SELECT release_version FROM system.local")).one()
    return {"id": id(cassandra), "release": str(row[0])}


def report():  # on_shutdown hooks run after the lifespans have been left
    print(f"sessions closed after lifespan: {[s.closed for s in sessions]}", flush=True)


app = Litestar(
    [which_session], plugins=[CassandraPlugin(on_connect=remember)], on_shutdown=[report]
)
"""


@pytest.fixture
def granian_app_dir(tmp_path: Path) -> Path:
    (tmp_path / "served_litestar.py").write_text(GRANIAN_APP)
    return tmp_path


@pytest.fixture
def granian_socket(tmp_path: Path) -> Path:
    return tmp_path / "granian.sock"


def granian(app_dir: Path, env: dict[str, str], sock: Path) -> ServerProcess:
    argv = ["-m", "granian", "--interface", "asgi", "--uds", str(sock), "served_litestar:app"]
    return ServerProcess(argv, env, app_dir)


def client_for(sock: Path) -> httpx.Client:
    return httpx.Client(
        transport=httpx.HTTPTransport(uds=str(sock)), base_url="http://granian", timeout=WAIT
    )


def first_answer(client: httpx.Client, server: ServerProcess) -> httpx.Response:
    """Granian binds before its worker has run the lifespan: retry until it answers."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            return client.get("/session")
        except httpx.TransportError:
            if server.process.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture
def served_by_granian(
    cassandra_config: CassandraConfig, granian_app_dir: Path, granian_socket: Path
) -> Iterator[ServerProcess]:
    server = granian(
        granian_app_dir, environment_for(cassandra_config, granian_app_dir), granian_socket
    )
    try:
        yield server
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait(timeout=WAIT)


def test_granian_serves_the_litestar_plugins_session_and_closes_it_on_sigint(
    served_by_granian: ServerProcess, granian_socket: Path
) -> None:
    with client_for(granian_socket) as client:
        answers = [first_answer(client, served_by_granian)]
        answers += [client.get("/session") for _ in range(5)]

    assert [answer.status_code for answer in answers] == [200] * 6
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert served_by_granian.stop(signal.SIGINT) == 0, served_by_granian.output
    assert "sessions closed after lifespan: [True]" in served_by_granian.output


def test_granian_exits_non_zero_when_cassandra_is_down(
    granian_app_dir: Path, granian_socket: Path
) -> None:
    config, contact_point = unreachable_config()
    env = environment_for(config, granian_app_dir)
    env["CASSANDRA_CONNECT_TIMEOUT"] = "1"
    server = granian(granian_app_dir, env, granian_socket)

    code = server.process.wait(timeout=WAIT)
    server.stop()  # collects the rest of its output

    assert code != 0
    assert f"could not connect to {contact_point}" in server.output
    assert "no Cassandra session at startup" in server.output


@pytest.mark.memory_only
@pytest.mark.parametrize("framework_name", ["litestar", "quart"])
async def test_plugin_and_extension_startup_and_shutdown_never_stall_the_event_loop(
    framework_name: str, cql_server: CQLServer
) -> None:
    """The app runs on the test's own loop (Litestar's AsyncTestClient would run it on a
    portal thread's); slow system-table reads make a connect that blocked the loop stall it
    for many 0.2 s."""
    cql_server.add_latency(0.2, pattern=r"FROM system")
    config = CassandraConfig(contact_points=(cql_server.host,), port=cql_server.port)
    hook = RecordingHook()
    app = APPS[framework_name](config, hook, InFlight())
    async with LoopLagProbe(interval=0.005) as probe:
        if framework_name == "litestar":
            async with (
                LifespanManager(app) as manager,
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=manager.app), base_url="http://test"
                ) as client,
            ):
                assert (await client.get("/session")).status_code == 200
        else:
            async with app.test_app() as test_app:
                assert (await test_app.test_client().get("/session")).status_code == 200

    print(f"max loop lag {probe.max_lag * 1000:.2f} ms, {probe.max_blocked * 1000:.2f} ms blocked")
    assert hook.sessions[0].closed
    assert probe.max_blocked < MAX_STALL, f"the loop stalled for {probe.max_blocked * 1000:.1f} ms"
