"""``cassandra_asgi.adapters.quart.Cassandra`` through Quart's own test tools:
``app.test_app()`` runs the serving hooks, ``test_app.test_client()`` sends the requests."""

from __future__ import annotations

from typing import Any, assert_type

import pytest
from framework_support import (
    RecordingHook,
    another_cluster,
    cluster_label,
    failing_hook,
    release_version,
    unreachable_config,
)
from quart import Quart
from quart.testing.app import LifespanError

from cassandra_asgi import (
    AsyncSession,
    CassandraConfig,
    ConfigError,
    ConnectError,
    LifespanNotRunError,
)
from cassandra_asgi.adapters.quart import Cassandra, ExtensionNotInitializedError, get_session


def app_with_session_routes() -> Quart:
    app = Quart(__name__)

    @app.get("/release")
    async def release() -> dict[str, str]:
        session = get_session()
        assert_type(session, AsyncSession)
        return {"release": await release_version(session)}

    @app.get("/session")
    async def which_session() -> dict[str, int]:
        return {"id": id(get_session())}

    return app


async def test_handlers_get_the_apps_session(cassandra_config: CassandraConfig) -> None:
    hook = RecordingHook()
    app = app_with_session_routes()
    Cassandra(app, cassandra_config, on_connect=hook)

    async with app.test_app() as test_app:
        client = test_app.test_client()
        response = await client.get("/release")
        ids = {(await (await client.get("/session")).get_json())["id"] for _ in range(5)}

    assert response.status_code == 200, await response.get_data(as_text=True)
    assert (await response.get_json())["release"]
    assert ids == {id(hook.sessions[0])}


async def test_init_app_installs_an_extension_created_without_an_app(
    cassandra_config: CassandraConfig,
) -> None:
    cassandra = Cassandra(config=cassandra_config)  # at import time, before the app exists
    app = app_with_session_routes()
    cassandra.init_app(app)

    async with app.test_app() as test_app:
        response = await test_app.test_client().get("/release")
        async with app.app_context():
            session = cassandra.get_session()

    assert response.status_code == 200
    assert session.closed  # the extension's own, closed by after_serving


async def test_one_extension_serves_each_app_a_factory_builds_with_its_own_config(
    cassandra_config: CassandraConfig, keyspace: str
) -> None:
    cassandra = Cassandra(on_connect=RecordingHook())  # module level, as in examples/quart_app

    def create_app(config: CassandraConfig, label: str) -> Quart:
        app = Quart(__name__)

        @app.before_serving
        async def write_label() -> None:
            await RecordingHook(label, keyspace)(cassandra.get_session())

        @app.get("/label")
        async def read_label() -> dict[str, str]:
            return {"label": await cluster_label(cassandra.get_session(), keyspace)}

        cassandra.init_app(app, config)
        return app

    with another_cluster() as other_config:
        first, second = create_app(cassandra_config, "first"), create_app(other_config, "second")
        async with first.test_app() as first_app, second.test_app() as second_app:
            answers = [
                await (await first_app.test_client().get("/label")).get_json(),
                await (await second_app.test_client().get("/label")).get_json(),
            ]

    assert answers == [{"label": "first"}, {"label": "second"}]


async def test_one_session_serves_the_app_and_after_serving_closes_it(
    cassandra_config: CassandraConfig,
) -> None:
    hook = RecordingHook()
    app = app_with_session_routes()
    Cassandra(app, cassandra_config, on_connect=hook)

    async with app.test_app() as test_app:
        client = test_app.test_client()
        for _ in range(10):
            assert (await client.get("/release")).status_code == 200
        open_while_serving = not hook.sessions[0].closed

    assert open_while_serving
    assert len(hook.sessions) == 1
    assert hook.sessions[0].closed


async def test_every_serving_hook_can_use_the_session_whatever_its_order(
    cassandra_config: CassandraConfig,
) -> None:
    """Hooks registered before ``init_app`` still run after our connect, and those registered
    after it still run before our close."""
    app = Quart(__name__)
    seen: dict[str, str] = {}

    @app.before_serving
    async def registered_before() -> None:
        seen["before_serving, registered first"] = await release_version(get_session())

    cassandra = Cassandra(app, cassandra_config)

    @app.before_serving
    async def registered_after() -> None:
        seen["before_serving, registered later"] = await release_version(get_session())

    @app.after_serving
    async def shutting_down() -> None:
        seen["after_serving, registered later"] = await release_version(get_session())

    async with app.test_app():
        pass

    assert sorted(seen) == [
        "after_serving, registered later",
        "before_serving, registered first",
        "before_serving, registered later",
    ]
    with pytest.raises(LifespanNotRunError):
        async with app.app_context():
            cassandra.get_session()


async def test_get_session_works_in_an_app_context_outside_requests(
    cassandra_config: CassandraConfig,
) -> None:
    app = Quart(__name__)
    Cassandra(app, cassandra_config)

    async with app.test_app(), app.app_context():
        assert await release_version(get_session())


async def test_two_clusters_in_one_app_each_under_its_key(
    cassandra_config: CassandraConfig, keyspace: str
) -> None:
    app = Quart(__name__)

    @app.get("/labels")
    async def labels() -> dict[str, str]:
        return {
            "main": await cluster_label(get_session(), keyspace),
            "analytics": await cluster_label(analytics.get_session(), keyspace),
        }

    with another_cluster() as analytics_config:
        Cassandra(app, cassandra_config, on_connect=RecordingHook("main", keyspace))
        analytics = Cassandra(
            app,
            analytics_config,
            key="analytics",
            on_connect=RecordingHook("analytics", keyspace),
        )
        async with app.test_app() as test_app:
            response = await test_app.test_client().get("/labels")

    assert response.status_code == 200, await response.get_data(as_text=True)
    assert await response.get_json() == {"main": "main", "analytics": "analytics"}


async def test_startup_fails_when_cassandra_is_down_naming_the_contact_point(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config, contact_point = unreachable_config()
    app = app_with_session_routes()
    Cassandra(app, config)

    # Quart reports str(error) as lifespan.startup.failed; test_app raises it as LifespanError.
    with pytest.raises(LifespanError, match=f"could not connect to {contact_point}"):
        async with app.test_app():
            pytest.fail("the app served without Cassandra")

    logged = [record.exc_info[1] for record in caplog.records if record.exc_info]
    assert any(isinstance(exc, ConnectError) for exc in logged)
    assert "Cassandra(key='cassandra'): no Cassandra session at startup" in caplog.text


async def test_a_failing_on_connect_hook_stops_startup_and_closes_the_session(
    cassandra_config: CassandraConfig,
) -> None:
    create_schema, connected = failing_hook()
    app = app_with_session_routes()
    Cassandra(app, cassandra_config, on_connect=create_schema)
    with pytest.raises(LifespanError, match="create_schema failed: RuntimeError: disk full"):
        async with app.test_app():
            pytest.fail("the app served although its startup hook failed")

    assert connected[0].closed


async def test_a_later_before_serving_hook_failing_still_closes_the_session(
    cassandra_config: CassandraConfig,
) -> None:
    hook = RecordingHook()
    app = app_with_session_routes()
    Cassandra(app, cassandra_config, on_connect=hook)

    @app.before_serving
    async def create_schema() -> None:
        raise RuntimeError("disk full")

    with pytest.raises(LifespanError, match="disk full"):
        async with app.test_app():
            pytest.fail("the app served although its startup failed")

    assert len(hook.sessions) == 1
    assert hook.sessions[0].closed


async def test_config_none_reads_the_environment_when_serving_starts(
    cassandra_config: CassandraConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = app_with_session_routes()
    Cassandra(app)  # before the variables exist
    monkeypatch.setenv("CASSANDRA_CONTACT_POINTS", ",".join(cassandra_config.contact_points))
    monkeypatch.setenv("CASSANDRA_PORT", str(cassandra_config.port))

    async with app.test_app() as test_app:
        assert (await test_app.test_client().get("/release")).status_code == 200


async def test_a_request_to_an_app_that_is_not_serving_names_the_fix(
    cassandra_config: CassandraConfig,
) -> None:
    app = app_with_session_routes()
    Cassandra(app, cassandra_config)

    async with app.test_request_context("/release"):
        with pytest.raises(LifespanNotRunError, match=r"async with app\.test_app\(\)"):
            get_session()


async def test_an_unknown_key_names_the_extension_to_create() -> None:
    app = Quart(__name__)
    Cassandra(app)

    async with app.app_context():
        with pytest.raises(ExtensionNotInitializedError, match=r"Cassandra\(app, key='other'\)"):
            get_session("other")


def test_outside_any_context_get_session_says_which_context_it_needs() -> None:
    with pytest.raises(RuntimeError, match="needs a request or app context"):
        get_session()


def test_a_second_extension_under_the_same_key_is_refused() -> None:
    app = Quart(__name__)
    Cassandra(app)

    with pytest.raises(ConfigError, match=r"app.extensions\['cassandra'\] is already taken"):
        Cassandra(app)


@pytest.mark.parametrize(
    "options",
    [{"key": ""}, {"config": "127.0.0.1"}],
    ids=["empty key", "config not a CassandraConfig"],
)
def test_bad_arguments_are_refused_at_construction(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=next(iter(options))):
        Cassandra(**options)
