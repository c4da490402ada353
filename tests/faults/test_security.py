"""Security: the password never leaks, and authentication and TLS work end to end through
``connect()`` and the adapters.

The password is distinctive so a leak anywhere (repr, log record, exception text, chained
cause, note) is found by a plain substring search.
"""

from __future__ import annotations

import logging
import ssl
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from asgiref.testing import ApplicationCommunicator

from cassandra_asgi import CassandraConfig, ConnectError, connect
from cassandra_asgi.adapters import aiohttp as aiohttp_adapter
from cassandra_asgi.adapters.asgi import CassandraMiddleware
from cassandra_asgi.testing import CQLServer
from cassandra_asgi.testing.tls import make_self_signed_certificate

from .conftest import MARGIN, PING

pytestmark = pytest.mark.memory_only

USER = "app_user"
PASSWORD = "pw-Zq9x-must-never-show"
WRONG_PASSWORD = "wrong-Kd7v-must-never-show"


@pytest.fixture
def secured() -> Iterator[CQLServer]:
    with CQLServer(username=USER, password=PASSWORD) as server:
        yield server


def config_for(server: CQLServer, password: str = PASSWORD, **options: Any) -> CassandraConfig:
    options.setdefault("connect_timeout", 5)
    return CassandraConfig(
        contact_points=[server.contact_point], username=USER, password=password, **options
    )


def full_text(error: BaseException) -> str:
    """Everything a traceback would print: messages, chained causes, notes."""
    return "".join(traceback.format_exception(error))


def logged_text(records: list[logging.LogRecord]) -> str:
    parts = []
    for record in records:
        parts.append(record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            parts.append(full_text(record.exc_info[1]))
    return "\n".join(parts)


# -- the password never shows ------------------------------------------------------------------
async def test_the_password_is_in_no_repr(secured: CQLServer) -> None:
    config = config_for(secured)
    assert PASSWORD not in repr(config)
    assert PASSWORD not in str(config)
    async with connect(config) as session:
        assert PASSWORD not in repr(session)
        assert PASSWORD not in repr(session.metrics)


async def test_the_password_is_in_no_log_record_at_debug_level(
    secured: CQLServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):  # the root logger: the driver's records too
        async with connect(config_for(secured)) as session:
            await session.execute(PING)
        with pytest.raises(ConnectError):
            await connect(config_for(secured, password=WRONG_PASSWORD))
    text = logged_text(caplog.records)
    assert caplog.records, "nothing was logged at DEBUG: the check would be empty"
    assert PASSWORD not in text
    assert WRONG_PASSWORD not in text


async def test_wrong_credentials_fail_connect_naming_the_cause_without_the_password(
    secured: CQLServer,
) -> None:
    with pytest.raises(ConnectError) as raised:
        await connect(config_for(secured, password=WRONG_PASSWORD))
    message = str(raised.value)
    assert secured.contact_point in message
    assert "AuthenticationFailed" in message or "incorrect" in message
    assert USER in message  # the server names the user it refused, which helps the operator
    assert WRONG_PASSWORD not in full_text(raised.value)
    assert PASSWORD not in full_text(raised.value)


async def test_missing_credentials_fail_connect_clearly(secured: CQLServer) -> None:
    with pytest.raises(ConnectError, match=secured.contact_point.replace(".", r"\.")) as raised:
        await connect(CassandraConfig(contact_points=[secured.contact_point], connect_timeout=5))
    assert "Authentication" in str(raised.value) or "auth" in str(raised.value).lower()


async def test_asgi_startup_failure_for_wrong_credentials_does_not_leak_the_password(
    secured: CQLServer,
) -> None:
    async def app(scope: object, receive: object, send: object) -> None:
        raise AssertionError("must not run")

    middleware = CassandraMiddleware(app, config_for(secured, password=WRONG_PASSWORD))
    server = ApplicationCommunicator(  # type: ignore[no-untyped-call]
        middleware, {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    )
    await server.send_input({"type": "lifespan.startup"})  # type: ignore[no-untyped-call]
    message = await server.receive_output(MARGIN)  # type: ignore[no-untyped-call]
    assert message["type"] == "lifespan.startup.failed"
    assert secured.contact_point in message["message"]
    assert WRONG_PASSWORD not in message["message"]
    with pytest.raises(ConnectError) as raised:
        await server.wait(MARGIN)  # type: ignore[no-untyped-call]
    assert WRONG_PASSWORD not in full_text(raised.value)


async def test_aiohttp_startup_failure_for_wrong_credentials_does_not_leak_the_password(
    secured: CQLServer,
) -> None:
    app = web.Application()
    aiohttp_adapter.setup(app, config_for(secured, password=WRONG_PASSWORD))
    server = TestServer(app)
    try:
        with pytest.raises(ConnectError) as raised:
            await server.start_server()
    finally:
        await server.close()
    assert WRONG_PASSWORD not in full_text(raised.value)


async def test_right_credentials_serve_queries(secured: CQLServer) -> None:
    async with connect(config_for(secured)) as session:
        assert (await session.execute(PING)).one() is not None


# -- TLS ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made for this test run."""
    made = make_self_signed_certificate(tmp_path_factory.mktemp("tls"))
    return made.cert_path, made.key_path


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[CQLServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    with CQLServer(username=USER, password=PASSWORD, ssl_context=context) as server:
        yield server


def trusting(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the host name
    context.load_verify_locations(certificate[0])
    return context


async def test_tls_with_a_verified_certificate_and_credentials_serves_queries(
    tls_server: CQLServer, certificate: tuple[Path, Path]
) -> None:
    config = config_for(tls_server, ssl_context=trusting(certificate))
    async with connect(config) as session:
        assert (await session.execute(PING)).one() is not None
        connection = next(iter(session.driver_session.get_pools())).get_connections()[0]
        assert connection.ssl_context is not None


async def test_a_certificate_the_client_does_not_trust_fails_connect_naming_the_cause(
    tls_server: CQLServer,
) -> None:
    untrusting = ssl.create_default_context()  # system CAs only: our self-signed one is unknown
    with pytest.raises(ConnectError, match="certificate verify failed") as raised:
        await connect(config_for(tls_server, ssl_context=untrusting))
    assert tls_server.contact_point in str(raised.value)


async def test_a_plain_client_against_a_tls_node_fails_within_connect_timeout(
    tls_server: CQLServer,
) -> None:
    started = time.monotonic()
    with pytest.raises(ConnectError, match=tls_server.contact_point.replace(".", r"\.")):
        await connect(config_for(tls_server, connect_timeout=2))
    assert time.monotonic() - started < 2 + MARGIN
