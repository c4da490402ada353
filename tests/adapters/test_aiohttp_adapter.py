"""The aiohttp adapter through aiohttp's own test tools (TestServer/TestClient, pytest-aiohttp).

Every test that talks to Cassandra uses the plugin's ``cassandra_config``/``keyspace`` fixtures,
so it also runs against a real cluster when ``CASSANDRA_CONTACT_POINTS`` is set.
"""

from __future__ import annotations

import inspect
import warnings

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request
from pytest_aiohttp import AiohttpClient

from cassandra_asgi import AsyncSession, CassandraConfig, connect
from cassandra_asgi.adapters.aiohttp import (
    CASSANDRA,
    AlreadySetUpError,
    AppNotStartedError,
    SessionNotConfiguredError,
    cassandra_context,
    get_session,
    setup,
)
from cassandra_asgi.testing import CQLServer
from cassandra_asgi.testing.lag import LoopLagProbe

# Any string key anywhere in the adapter would turn into a test failure.
pytestmark = pytest.mark.filterwarnings("error::aiohttp.web.NotAppKeyWarning")

OTHER: web.AppKey[AsyncSession] = web.AppKey("other", AsyncSession)
#: Every server reply is delayed this long in the loop-lag test; a call that blocked the loop
#: while waiting for one would stall it for at least that long.
INJECTED_LATENCY = 0.2


async def create_notes_table(config: CassandraConfig) -> None:
    async with connect(config) as session:
        await session.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)")


async def note_handler(request: web.Request) -> web.Response:
    """Store the posted body under the id, then read it back through the same session."""
    session = get_session(request)
    note_id = int(request.match_info["id"])
    await session.execute(
        "INSERT INTO notes (id, body) VALUES (%s, %s)", (note_id, await request.text())
    )
    result = await session.execute("SELECT body FROM notes WHERE id = %s", (note_id,))
    row = result.one()
    assert row is not None
    return web.Response(text=row.body)


def notes_app(config: CassandraConfig) -> web.Application:
    app = web.Application()
    setup(app, config)
    app.router.add_post("/notes/{id}", note_handler)
    return app


async def test_handler_reads_and_writes_through_the_app_session(
    aiohttp_client: AiohttpClient, cassandra_config: CassandraConfig, keyspace: str
) -> None:
    config = cassandra_config.replace(keyspace=keyspace)
    await create_notes_table(config)
    client = await aiohttp_client(notes_app(config))

    response = await client.post("/notes/7", data="hello")

    assert response.status == 200
    assert await response.text() == "hello"


async def test_sub_app_handler_gets_the_parent_session(
    aiohttp_client: AiohttpClient, cassandra_config: CassandraConfig, keyspace: str
) -> None:
    config = cassandra_config.replace(keyspace=keyspace)
    await create_notes_table(config)
    parent = web.Application()
    setup(parent, config)
    child = web.Application()
    child.router.add_post("/notes/{id}", note_handler)
    parent.add_subapp("/v1", child)
    client = await aiohttp_client(parent)

    response = await client.post("/v1/notes/1", data="from a sub-app")

    assert response.status == 200
    assert await response.text() == "from a sub-app"


async def test_sub_app_can_own_a_session_under_its_own_key(
    aiohttp_client: AiohttpClient, cassandra_config: CassandraConfig, keyspace: str
) -> None:
    seen: dict[str, AsyncSession] = {}

    async def handler(request: web.Request) -> web.Response:
        seen["own"] = get_session(request, OTHER)
        seen["parent"] = get_session(request)
        await seen["own"].execute("SELECT release_version FROM system.local")
        return web.Response(text="ok")

    parent = web.Application()
    setup(parent, cassandra_config)
    child = web.Application()
    setup(child, cassandra_config.replace(keyspace=keyspace), app_key=OTHER)
    child.router.add_get("/", handler)
    parent.add_subapp("/child", child)
    client = await aiohttp_client(parent)

    assert (await client.get("/child/")).status == 200
    assert seen["own"] is child[OTHER]
    assert seen["own"].keyspace == keyspace
    assert seen["parent"] is parent[CASSANDRA]


async def test_session_is_stored_at_startup_and_closed_at_cleanup(
    cassandra_config: CassandraConfig,
) -> None:
    app = web.Application()
    setup(app, cassandra_config)
    assert CASSANDRA not in app

    async with TestClient(TestServer(app)):
        session = app[CASSANDRA]
        assert isinstance(session, AsyncSession)
        assert not session.closed

    assert session.closed


async def test_context_is_a_single_yield_async_generator_for_every_aiohttp_version(
    cassandra_config: CassandraConfig,
) -> None:
    # aiohttp 3.9-3.13 drive cleanup contexts exactly like this: one __anext__ at startup,
    # one at cleanup that must end the generator.
    context = cassandra_context(cassandra_config)
    assert inspect.isasyncgenfunction(context)
    app = web.Application()

    steps = context(app).__aiter__()
    await steps.__anext__()
    session = app[CASSANDRA]
    assert not session.closed
    with pytest.raises(StopAsyncIteration):
        await steps.__anext__()

    assert session.closed


async def test_two_clusters_under_distinct_keys_reach_their_own_servers(
    aiohttp_client: AiohttpClient, cql_server: CQLServer
) -> None:
    with CQLServer() as second_server:
        app = web.Application()
        setup(app, CassandraConfig(contact_points=[cql_server.contact_point]))
        setup(app, CassandraConfig(contact_points=[second_server.contact_point]), app_key=OTHER)

        async def handler(request: web.Request) -> web.Response:
            await get_session(request).execute(
                "CREATE KEYSPACE only_on_first WITH replication = "
                "{'class': 'SimpleStrategy', 'replication_factor': 1}"
            )
            first = await get_session(request).execute(
                "SELECT keyspace_name FROM system_schema.keyspaces"
            )
            second = await get_session(request, OTHER).execute(
                "SELECT keyspace_name FROM system_schema.keyspaces"
            )
            return web.json_response(
                {
                    "first": sorted(row.keyspace_name for row in first.current_rows),
                    "second": sorted(row.keyspace_name for row in second.current_rows),
                }
            )

        app.router.add_get("/", handler)
        client = await aiohttp_client(app)
        body = await (await client.get("/")).json()

        assert app[CASSANDRA] is not app[OTHER]
        assert "only_on_first" in body["first"]
        assert "only_on_first" not in body["second"]


async def test_full_lifecycle_emits_no_app_key_or_frozen_app_warnings(
    cassandra_config: CassandraConfig,
) -> None:
    async def handler(request: web.Request) -> web.Response:
        await get_session(request).execute("SELECT release_version FROM system.local")
        return web.Response(text="ok")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        app = web.Application()
        setup(app, cassandra_config)
        app.router.add_get("/", handler)
        async with TestClient(TestServer(app)) as client:
            assert (await client.get("/")).status == 200

    offending = [
        w
        for w in caught
        if issubclass(w.category, web.NotAppKeyWarning) or "Changing state" in str(w.message)
    ]
    assert offending == []


@pytest.mark.memory_only
@pytest.mark.slow
async def test_startup_requests_and_cleanup_never_stall_the_event_loop(
    cql_server: CQLServer, cassandra_config: CassandraConfig
) -> None:
    async def handler(request: web.Request) -> web.Response:
        await get_session(request).execute("SELECT release_version FROM system.local")
        return web.Response(text="ok")

    app = web.Application()
    setup(app, cassandra_config.replace(connect_timeout=60))
    app.router.add_get("/", handler)
    cql_server.add_latency(INJECTED_LATENCY)

    async with LoopLagProbe(interval=0.005) as probe, TestClient(TestServer(app)) as client:
        for _ in range(3):
            assert (await client.get("/")).status == 200

    assert app[CASSANDRA].closed
    print(f"max loop lag {probe.max_lag * 1000:.1f} ms over {probe.samples} samples")
    assert probe.max_blocked < INJECTED_LATENCY / 2, (
        f"loop stalled {probe.max_blocked * 1000:.0f} ms"
    )


def test_get_session_without_setup_names_the_key_and_the_fix() -> None:
    request = make_mocked_request("GET", "/", app=web.Application())

    with pytest.raises(SessionNotConfiguredError) as raised:
        get_session(request)

    message = str(raised.value)
    assert repr(CASSANDRA) in message
    assert "setup(app)" in message
    assert "cassandra_context" in message


def test_get_session_before_startup_says_the_app_has_not_started() -> None:
    app = web.Application()
    setup(app, CassandraConfig())  # building the context does no I/O
    request = make_mocked_request("GET", "/", app=app)

    with pytest.raises(AppNotStartedError, match="has not run its startup"):
        get_session(request)


def test_get_session_for_a_key_never_set_up_is_not_mistaken_for_not_started() -> None:
    app = web.Application()
    setup(app, CassandraConfig())
    request = make_mocked_request("GET", "/", app=app)

    with pytest.raises(SessionNotConfiguredError, match="other"):
        get_session(request, OTHER)


def test_second_setup_for_the_same_key_is_refused() -> None:
    app = web.Application()
    setup(app, CassandraConfig())

    with pytest.raises(AlreadySetUpError, match="already set up"):
        setup(app, CassandraConfig())
    assert len(app.cleanup_ctx) == 1


def test_setup_under_another_key_adds_a_second_context() -> None:
    app = web.Application()
    setup(app, CassandraConfig())
    setup(app, CassandraConfig(), app_key=OTHER)

    assert len(app.cleanup_ctx) == 2


def test_setup_refuses_a_string_key() -> None:
    with pytest.raises(TypeError, match=r"web\.AppKey"):
        setup(web.Application(), CassandraConfig(), app_key="cassandra")  # type: ignore[arg-type]


def test_cassandra_context_refuses_a_string_key() -> None:
    with pytest.raises(TypeError, match=r"web\.AppKey"):
        cassandra_context(CassandraConfig(), app_key="cassandra")  # type: ignore[arg-type]


def test_get_session_refuses_a_string_key() -> None:
    request = make_mocked_request("GET", "/", app=web.Application())
    with pytest.raises(TypeError, match=r"web\.AppKey"):
        get_session(request, "cassandra")  # type: ignore[arg-type]
