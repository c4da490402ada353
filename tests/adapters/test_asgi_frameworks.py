"""CassandraMiddleware in the frameworks and test tools people actually use.

Starlette and FastAPI apps are served by Starlette's TestClient, by asgi-lifespan plus httpx,
and by bare httpx (no lifespan at all, which is where ``lazy=True`` matters).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from cassandra_asgi import AsyncSession, CassandraConfig, LifespanNotRunError, connect
from cassandra_asgi.adapters.asgi import CassandraMiddleware, SessionNotFoundError, get_session
from cassandra_asgi.testing import CQLServer

RELEASE_QUERY = "SELECT release_version FROM system.local"


async def release_version(session: AsyncSession) -> str:
    row = (await session.execute(RELEASE_QUERY)).one()
    return str(row[0])


async def release(request: Request) -> JSONResponse:
    return JSONResponse({"release_version": await release_version(request.state.cassandra)})


async def session_id(request: Request) -> JSONResponse:
    return JSONResponse({"id": id(get_session(request))})


def cassandra(connection: HTTPConnection) -> AsyncSession:
    """The FastAPI dependency the docs recommend: works for HTTP and websocket routes."""
    return get_session(connection)


Cassandra = Annotated[AsyncSession, Depends(cassandra)]


def fastapi_app(config: CassandraConfig) -> FastAPI:
    app = FastAPI()

    @app.get("/release")
    async def read_release(session: Cassandra) -> dict[str, str]:
        return {"release_version": await release_version(session)}

    app.add_middleware(CassandraMiddleware, config=config)
    return app


def starlette_app(config: CassandraConfig, **options: Any) -> Starlette:
    return Starlette(
        routes=[Route("/release", release), Route("/id", session_id)],
        middleware=[Middleware(CassandraMiddleware, config=config, **options)],
    )


def test_testclient_as_context_manager_serves_requests_with_the_session(
    cassandra_config: CassandraConfig,
) -> None:
    with TestClient(starlette_app(cassandra_config)) as client:
        response = client.get("/release")
    assert response.status_code == 200
    assert response.json()["release_version"]


def test_testclient_without_context_manager_fails_with_lifespan_not_run_error(
    cassandra_config: CassandraConfig,
) -> None:
    client = TestClient(starlette_app(cassandra_config))
    with pytest.raises(LifespanNotRunError, match=r"TestClient\(app\) as client"):
        client.get("/release")


def test_add_middleware_installs_the_session(cassandra_config: CassandraConfig) -> None:
    app = Starlette(routes=[Route("/release", release)])
    app.add_middleware(CassandraMiddleware, config=cassandra_config)
    with TestClient(app) as client:
        assert client.get("/release").status_code == 200


def test_a_raw_wrapper_around_a_starlette_app_serves_requests(
    cassandra_config: CassandraConfig,
) -> None:
    app = CassandraMiddleware(Starlette(routes=[Route("/release", release)]), cassandra_config)
    with TestClient(app) as client:
        assert client.get("/release").status_code == 200


def test_fastapi_annotated_dependency_receives_the_session(
    cassandra_config: CassandraConfig,
) -> None:
    with TestClient(fastapi_app(cassandra_config)) as client:
        response = client.get("/release")
    assert response.status_code == 200
    assert response.json()["release_version"]


async def create_notes_table(config: CassandraConfig) -> None:
    async with connect(config) as session:
        await session.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)")


def test_fastapi_handlers_write_and_read_rows_through_the_dependency(
    cassandra_config: CassandraConfig, keyspace: str
) -> None:
    config = cassandra_config.replace(keyspace=keyspace)
    asyncio.run(create_notes_table(config))
    app = FastAPI()

    @app.put("/notes/{note_id}")
    async def put_note(note_id: int, body: str, session: Cassandra) -> None:
        await session.execute("INSERT INTO notes (id, body) VALUES (%s, %s)", [note_id, body])

    @app.get("/notes/{note_id}")
    async def get_note(note_id: int, session: Cassandra) -> dict[str, str]:
        row = (await session.execute("SELECT body FROM notes WHERE id = %s", [note_id])).one()
        return {"body": str(row[0])}

    app.add_middleware(CassandraMiddleware, config=config)
    with TestClient(app) as client:
        assert client.put("/notes/7", params={"body": "hello"}).status_code == 200
        assert client.get("/notes/7").json() == {"body": "hello"}


def test_every_request_shares_the_one_application_session(
    cassandra_config: CassandraConfig,
) -> None:
    with TestClient(starlette_app(cassandra_config)) as client:
        ids = {client.get("/id").json()["id"] for _ in range(3)}
    assert len(ids) == 1


def test_mounted_sub_apps_read_the_outer_apps_session(cassandra_config: CassandraConfig) -> None:
    inner = Starlette(routes=[Route("/release", release)])
    inner_fastapi = FastAPI()

    @inner_fastapi.get("/release")
    async def read_release(session: Cassandra) -> dict[str, str]:
        return {"release_version": await release_version(session)}

    outer = Starlette(
        routes=[Mount("/starlette", app=inner), Mount("/fastapi", app=inner_fastapi)],
        middleware=[Middleware(CassandraMiddleware, config=cassandra_config)],
    )
    with TestClient(outer) as client:
        assert client.get("/starlette/release").status_code == 200
        assert client.get("/fastapi/release").status_code == 200


def test_websocket_handlers_get_the_session(cassandra_config: CassandraConfig) -> None:
    async def echo_release(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(await release_version(websocket.state.cassandra))
        await websocket.close()

    app = Starlette(
        routes=[WebSocketRoute("/ws", echo_release)],
        middleware=[Middleware(CassandraMiddleware, config=cassandra_config)],
    )
    with TestClient(app) as client, client.websocket_connect("/ws") as websocket:
        assert websocket.receive_text()


def test_the_fastapi_dependency_also_serves_websocket_routes(
    cassandra_config: CassandraConfig,
) -> None:
    app = FastAPI()

    @app.websocket("/ws")
    async def echo_release(websocket: WebSocket, session: Cassandra) -> None:
        await websocket.accept()
        await websocket.send_text(await release_version(session))
        await websocket.close()

    app.add_middleware(CassandraMiddleware, config=cassandra_config)
    with TestClient(app) as client, client.websocket_connect("/ws") as websocket:
        assert websocket.receive_text()


async def test_asgi_lifespan_manager_with_httpx_serves_requests(
    cassandra_config: CassandraConfig,
) -> None:
    async with (
        LifespanManager(starlette_app(cassandra_config)) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://test"
        ) as client,
    ):
        response = await client.get("/release")
    assert response.status_code == 200


class SessionRecorder:
    """A raw ASGI app that answers with a query and remembers each session it was handed."""

    def __init__(self) -> None:
        self.sessions: list[AsyncSession] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        session = get_session(scope)
        self.sessions.append(session)
        body = {"id": id(session), "release": await release_version(session)}
        await JSONResponse(body)(scope, receive, send)


@pytest.fixture
def recorder() -> SessionRecorder:
    return SessionRecorder()


@pytest.fixture
async def lazy_middleware(
    cassandra_config: CassandraConfig, recorder: SessionRecorder
) -> AsyncIterator[CassandraMiddleware]:
    middleware = CassandraMiddleware(recorder, cassandra_config, lazy=True)
    yield middleware
    await middleware.aclose()


async def test_lazy_mode_connects_once_for_concurrent_first_requests(
    lazy_middleware: CassandraMiddleware,
) -> None:
    transport = httpx.ASGITransport(app=lazy_middleware)  # no lifespan, no scope["state"]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        responses = await asyncio.gather(*(client.get("/") for _ in range(10)))
    assert {r.status_code for r in responses} == {200}
    assert len({r.json()["id"] for r in responses}) == 1


async def test_lazy_mode_aclose_closes_the_session(
    lazy_middleware: CassandraMiddleware, recorder: SessionRecorder
) -> None:
    transport = httpx.ASGITransport(app=lazy_middleware)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        await client.get("/")
    assert not recorder.sessions[0].closed
    await lazy_middleware.aclose()
    assert recorder.sessions[0].closed


def test_lazy_mode_serves_testclient_without_context_manager_one_session_per_loop(
    cassandra_config: CassandraConfig, recorder: SessionRecorder
) -> None:
    # TestClient without `with` runs every request on a brand-new event loop.
    middleware = CassandraMiddleware(recorder, cassandra_config, lazy=True)
    client = TestClient(middleware)
    assert [client.get("/").status_code for _ in range(3)] == [200, 200, 200]
    assert len({id(session) for session in recorder.sessions}) == 3
    asyncio.run(middleware.aclose())
    assert all(session.cluster.is_shutdown for session in recorder.sessions)


async def test_httpx_without_lifespan_fails_with_lifespan_not_run_error(
    cassandra_config: CassandraConfig,
) -> None:
    transport = httpx.ASGITransport(app=starlette_app(cassandra_config))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        with pytest.raises(LifespanNotRunError, match="lazy=True"):
            await client.get("/release")


async def label_cluster(config: CassandraConfig, label: str) -> None:
    """Store ``label`` in the cluster itself, so a reply shows which cluster answered."""
    async with connect(config) as session:
        await session.execute(
            "CREATE KEYSPACE IF NOT EXISTS whoami "
            "WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        await session.execute(
            "CREATE TABLE IF NOT EXISTS whoami.label (id int PRIMARY KEY, name text)"
        )
        await session.execute("INSERT INTO whoami.label (id, name) VALUES (1, %s)", [label])


async def cluster_label(session: AsyncSession) -> str:
    row = (await session.execute("SELECT name FROM whoami.label WHERE id = 1")).one()
    return str(row[0])


@pytest.mark.memory_only
def test_two_clusters_under_distinct_state_keys(cql_server: CQLServer) -> None:
    with CQLServer() as other_server:
        first = CassandraConfig(contact_points=(cql_server.contact_point,))
        second = CassandraConfig(contact_points=(other_server.contact_point,))
        asyncio.run(label_cluster(first, "first"))
        asyncio.run(label_cluster(second, "second"))

        async def which(request: Request) -> JSONResponse:
            keys = ("cassandra", "analytics")
            return JSONResponse(
                {key: await cluster_label(get_session(request, key)) for key in keys}
            )

        app = Starlette(
            routes=[Route("/which", which)],
            middleware=[
                Middleware(CassandraMiddleware, config=first),
                Middleware(CassandraMiddleware, config=second, state_key="analytics"),
            ],
        )
        with TestClient(app) as client:
            body = client.get("/which").json()
    assert body == {"cassandra": "first", "analytics": "second"}


def test_get_session_accepts_a_raw_scope(cassandra_config: CassandraConfig) -> None:
    async def handler(request: Request) -> JSONResponse:
        same = get_session(request.scope) is request.state.cassandra
        return JSONResponse({"same": same})

    app = Starlette(
        routes=[Route("/", handler)],
        middleware=[Middleware(CassandraMiddleware, config=cassandra_config)],
    )
    with TestClient(app) as client:
        assert client.get("/").json() == {"same": True}


def test_get_session_names_the_missing_key() -> None:
    with pytest.raises(SessionNotFoundError, match="'analytics'"):
        get_session({"type": "http", "state": {}}, state_key="analytics")


def test_get_session_rejects_something_that_is_not_a_request() -> None:
    with pytest.raises(TypeError, match="int"):
        get_session(42)
