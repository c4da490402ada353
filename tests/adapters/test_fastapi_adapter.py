"""``cassandra_asgi.adapters.fastapi``: the typed ``CassandraSession`` dependency, through
FastAPI's own ``TestClient`` (as a context manager, so the lifespan runs)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, assert_type

import pytest
from fastapi import Depends, FastAPI, WebSocket
from fastapi.testclient import TestClient
from framework_support import (
    RecordingHook,
    another_cluster,
    cluster_label,
    release_version,
    unreachable_config,
)

from cassandra_asgi import (
    AsyncSession,
    CassandraConfig,
    CassandraMiddleware,
    ConfigError,
    ConnectError,
    connect,
)
from cassandra_asgi.adapters.asgi import SessionNotFoundError
from cassandra_asgi.adapters.fastapi import CassandraSession, session_dependency


def app_with_session_routes() -> FastAPI:
    app = FastAPI()

    @app.get("/release")
    async def release(session: CassandraSession) -> dict[str, str]:
        assert_type(session, AsyncSession)
        return {"release": await release_version(session)}

    @app.get("/session")
    async def which_session(session: CassandraSession) -> dict[str, int]:
        return {"id": id(session)}

    return app


def test_handlers_get_the_middlewares_session(cassandra_config: CassandraConfig) -> None:
    hook = RecordingHook()
    app = app_with_session_routes()
    app.add_middleware(CassandraMiddleware, config=cassandra_config, on_connect=hook)

    with TestClient(app) as client:
        release = client.get("/release")
        ids = {client.get("/session").json()["id"] for _ in range(5)}

    assert release.status_code == 200, release.text
    assert release.json()["release"]
    assert ids == {id(hook.sessions[0])}


def test_one_session_serves_the_app_not_one_per_request(cassandra_config: CassandraConfig) -> None:
    hook = RecordingHook()
    app = app_with_session_routes()
    app.add_middleware(CassandraMiddleware, config=cassandra_config, on_connect=hook)

    with TestClient(app) as client:
        for _ in range(10):
            assert client.get("/release").status_code == 200

    assert len(hook.sessions) == 1
    assert hook.sessions[0].closed  # and the app's shutdown closed it


def test_handlers_get_the_session_a_lifespan_yields(cassandra_config: CassandraConfig) -> None:
    opened: list[AsyncSession] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with connect(cassandra_config) as session:
            opened.append(session)
            yield {"cassandra": session}

    app = FastAPI(lifespan=lifespan)

    @app.get("/session")
    async def which_session(session: CassandraSession) -> dict[str, object]:
        return {"id": id(session), "release": await release_version(session)}

    with TestClient(app) as client:
        response = client.get("/session")

    assert response.status_code == 200, response.text
    assert response.json()["id"] == id(opened[0])
    assert response.json()["release"]


Analytics = Annotated[AsyncSession, Depends(session_dependency("analytics"))]


def test_websocket_routes_get_a_session_by_state_key(cassandra_config: CassandraConfig) -> None:
    app = FastAPI()

    @app.websocket("/ws")
    async def send_session(websocket: WebSocket, analytics: Analytics) -> None:
        await websocket.accept()
        await websocket.send_json({"id": id(analytics), "closed": analytics.closed})
        await websocket.close()

    hook = RecordingHook()
    app.add_middleware(
        CassandraMiddleware, config=cassandra_config, state_key="analytics", on_connect=hook
    )
    with TestClient(app) as client, client.websocket_connect("/ws") as websocket:
        answer = websocket.receive_json()

    assert answer == {"id": id(hook.sessions[0]), "closed": False}


def test_two_clusters_in_one_app_each_under_its_state_key(
    cassandra_config: CassandraConfig, keyspace: str
) -> None:
    app = FastAPI()

    @app.get("/labels")
    async def labels(main: CassandraSession, analytics: Analytics) -> dict[str, str]:
        assert_type(analytics, AsyncSession)
        return {
            "main": await cluster_label(main, keyspace),
            "analytics": await cluster_label(analytics, keyspace),
        }

    with another_cluster() as analytics_config:
        app.add_middleware(
            CassandraMiddleware, config=cassandra_config, on_connect=RecordingHook("main", keyspace)
        )
        app.add_middleware(
            CassandraMiddleware,
            config=analytics_config,
            state_key="analytics",
            on_connect=RecordingHook("analytics", keyspace),
        )
        with TestClient(app) as client:
            response = client.get("/labels")

    assert response.status_code == 200, response.text
    assert response.json() == {"main": "main", "analytics": "analytics"}


def test_startup_fails_when_cassandra_is_down_naming_the_contact_point() -> None:
    config, contact_point = unreachable_config()
    app = app_with_session_routes()
    app.add_middleware(CassandraMiddleware, config=config)

    with pytest.raises(ConnectError, match=contact_point), TestClient(app):
        pytest.fail("the app started without Cassandra")


def test_without_a_session_the_error_names_both_ways_to_provide_one() -> None:
    app = app_with_session_routes()

    with TestClient(app) as client, pytest.raises(SessionNotFoundError) as raised:
        client.get("/release")

    advice = "\n".join([str(raised.value), *raised.value.__notes__])
    assert "CassandraMiddleware" in advice
    assert "yield {'cassandra': session} from the app's lifespan" in advice


def test_the_same_key_gives_the_same_dependency_so_overrides_find_it() -> None:
    assert session_dependency() is session_dependency("cassandra")
    assert session_dependency("analytics") is not session_dependency()


@pytest.mark.parametrize("state_key", ["", None, 3])
def test_an_invalid_state_key_is_a_config_error(state_key: Any) -> None:
    with pytest.raises(ConfigError, match="state_key"):
        session_dependency(state_key)
