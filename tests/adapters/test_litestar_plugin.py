"""``cassandra_asgi.adapters.litestar.CassandraPlugin`` through Litestar's own
``AsyncTestClient`` (as a context manager, so the app's lifespan runs)."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, assert_type

import pytest
from framework_support import (
    RecordingHook,
    another_cluster,
    cluster_label,
    failing_hook,
    release_version,
    sole_cause,
    unreachable_config,
)
from litestar import Litestar, get
from litestar.di import NamedDependency
from litestar.testing import AsyncTestClient

from cassandra_asgi import (
    AsyncSession,
    CassandraConfig,
    ConfigError,
    ConnectError,
)
from cassandra_asgi.adapters.litestar import CassandraPlugin
from cassandra_asgi.errors import StartupHookError


@get("/release")
async def release(cassandra: NamedDependency[AsyncSession]) -> dict[str, str]:
    assert_type(cassandra, AsyncSession)
    return {"release": await release_version(cassandra)}


@get("/session")
async def which_session(cassandra: NamedDependency[AsyncSession]) -> dict[str, int]:
    return {"id": id(cassandra)}


async def test_a_handler_declaring_cassandra_gets_the_apps_session(
    cassandra_config: CassandraConfig,
) -> None:
    hook = RecordingHook()
    app = Litestar(
        [release, which_session], plugins=[CassandraPlugin(cassandra_config, on_connect=hook)]
    )

    async with AsyncTestClient(app) as client:
        response = await client.get("/release")
        ids = {(await client.get("/session")).json()["id"] for _ in range(5)}

    assert response.status_code == 200, response.text
    assert response.json()["release"]
    assert ids == {id(hook.sessions[0])}


async def test_one_session_serves_the_app_and_shutdown_closes_it(
    cassandra_config: CassandraConfig,
) -> None:
    hook = RecordingHook()
    app = Litestar([release], plugins=[CassandraPlugin(cassandra_config, on_connect=hook)])

    async with AsyncTestClient(app) as client:
        for _ in range(10):
            assert (await client.get("/release")).status_code == 200
        open_while_serving = not hook.sessions[0].closed

    assert open_while_serving
    assert len(hook.sessions) == 1
    assert hook.sessions[0].closed
    assert "cassandra" not in app.state


async def test_the_session_is_in_app_state_before_startup_hooks_and_other_lifespans(
    cassandra_config: CassandraConfig,
) -> None:
    seen: dict[str, str] = {}

    async def on_startup(app: Litestar) -> None:
        seen["on_startup"] = await release_version(app.state.cassandra)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        seen["lifespan"] = await release_version(app.state.cassandra)
        yield

    app = Litestar(
        [release],
        on_startup=[on_startup],
        lifespan=[lifespan],
        plugins=[CassandraPlugin(cassandra_config)],
    )
    async with AsyncTestClient(app) as client:
        assert (await client.get("/release")).status_code == 200

    assert seen["on_startup"]
    assert seen["lifespan"]


async def test_two_plugins_serve_two_clusters_in_one_app(
    cassandra_config: CassandraConfig, keyspace: str
) -> None:
    @get("/labels")
    async def labels(
        cassandra: NamedDependency[AsyncSession], analytics: NamedDependency[AsyncSession]
    ) -> dict[str, str]:
        return {
            "main": await cluster_label(cassandra, keyspace),
            "analytics": await cluster_label(analytics, keyspace),
        }

    with another_cluster() as analytics_config:
        plugins = [
            CassandraPlugin(cassandra_config, on_connect=RecordingHook("main", keyspace)),
            CassandraPlugin(
                analytics_config,
                dependency_key="analytics",
                state_key="analytics",
                on_connect=RecordingHook("analytics", keyspace),
            ),
        ]
        async with AsyncTestClient(Litestar([labels], plugins=plugins)) as client:
            response = await client.get("/labels")

    assert response.status_code == 200, response.text
    assert response.json() == {"main": "main", "analytics": "analytics"}


@pytest.mark.parametrize(
    "second",
    [{"dependency_key": "other"}, {"state_key": "other"}],
    ids=["same state_key", "same dependency_key"],
)
def test_two_plugins_sharing_a_key_are_refused_when_the_app_is_built(
    second: dict[str, Any],
) -> None:
    with pytest.raises(ConfigError, match="two CassandraPlugin share"):
        Litestar([], plugins=[CassandraPlugin(), CassandraPlugin(**second)])


def test_a_dependency_key_the_app_already_uses_is_refused() -> None:
    with pytest.raises(ConfigError, match="already has a dependency named 'cassandra'"):
        Litestar([], dependencies={"cassandra": lambda: None}, plugins=[CassandraPlugin()])


async def test_startup_fails_when_cassandra_is_down_naming_the_contact_point() -> None:
    config, contact_point = unreachable_config()
    app = Litestar([release], plugins=[CassandraPlugin(config)])

    with pytest.raises((ConnectError, BaseExceptionGroup)) as raised:
        async with AsyncTestClient(app):  # which raises it inside an exception group
            pytest.fail("the app started without Cassandra")

    error = sole_cause(raised.value)
    assert isinstance(error, ConnectError)
    assert contact_point in str(error)
    assert error.__notes__ == [
        "CassandraPlugin(dependency_key='cassandra', state_key='cassandra'): "
        "no Cassandra session at startup"
    ]


async def test_a_failing_on_connect_hook_stops_startup_and_closes_the_session(
    cassandra_config: CassandraConfig,
) -> None:
    create_schema, connected = failing_hook()
    app = Litestar([release], plugins=[CassandraPlugin(cassandra_config, on_connect=create_schema)])
    with pytest.raises((StartupHookError, BaseExceptionGroup)) as raised:
        async with AsyncTestClient(app):
            pytest.fail("the app started although its startup hook failed")

    error = sole_cause(raised.value)
    assert isinstance(error, StartupHookError)
    assert "create_schema failed: RuntimeError: disk full" in str(error)
    assert connected[0].closed


async def test_config_none_reads_the_environment_at_startup(
    cassandra_config: CassandraConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = Litestar([release], plugins=[CassandraPlugin()])  # built before the variables exist
    monkeypatch.setenv("CASSANDRA_CONTACT_POINTS", ",".join(cassandra_config.contact_points))
    monkeypatch.setenv("CASSANDRA_PORT", str(cassandra_config.port))

    async with AsyncTestClient(app) as client:
        assert (await client.get("/release")).status_code == 200


async def test_without_the_lifespan_a_request_fails_naming_the_fix(
    cassandra_config: CassandraConfig,
) -> None:
    app = Litestar([release], plugins=[CassandraPlugin(cassandra_config)], debug=True)
    client = AsyncTestClient(app)  # not entered: the lifespan never runs

    response = await client.get("/release")

    assert response.status_code == 500
    assert "LifespanNotRunError" in response.text
    assert "the app's lifespan has not run" in response.text
    assert "async with AsyncTestClient(app)" in response.text


TYPING_ONLY_HANDLER = """
from __future__ import annotations

from typing import TYPE_CHECKING

from litestar import get
from litestar.di import NamedDependency

if TYPE_CHECKING:
    from cassandra_asgi import AsyncSession


@get("/closed")
async def closed(cassandra: NamedDependency[AsyncSession]) -> dict[str, bool]:
    return {"closed": cassandra.closed}
"""


async def test_handlers_may_import_async_session_for_type_checking_only(
    cassandra_config: CassandraConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plugin puts ``AsyncSession`` in the signature namespace, so Litestar resolves a
    handler annotation whose name exists only for the type checker."""
    (tmp_path / "typing_only_handler.py").write_text(TYPING_ONLY_HANDLER)
    monkeypatch.syspath_prepend(tmp_path)
    handler = importlib.import_module("typing_only_handler").closed
    app = Litestar([handler], plugins=[CassandraPlugin(cassandra_config)])

    async with AsyncTestClient(app) as client:
        response = await client.get("/closed")

    assert response.status_code == 200, response.text
    assert response.json() == {"closed": False}


@pytest.mark.parametrize(
    "options",
    [{"dependency_key": ""}, {"state_key": None}, {"config": "127.0.0.1"}],
    ids=["empty dependency_key", "state_key None", "config not a CassandraConfig"],
)
def test_bad_arguments_are_refused_at_construction(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=next(iter(options))):
        CassandraPlugin(**options)
