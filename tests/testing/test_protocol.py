"""Wire-level behaviour: version negotiation, malformed frames, concurrency, fuzzing."""

from __future__ import annotations

import socket
import struct
from concurrent.futures import ThreadPoolExecutor

import pytest
from cassandra.cluster import Session
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cassandra_asgi.testing import CQLServer

from .driver_wire import read_exact

pytestmark = pytest.mark.memory_only

HEADER = struct.Struct(">BBhBi")
OPTIONS, STARTUP, QUERY, ERROR, SUPPORTED, READY = 0x05, 0x01, 0x07, 0x00, 0x06, 0x02


def frame(opcode: int, body: bytes = b"", *, version: int = 4, stream: int = 0) -> bytes:
    return HEADER.pack(version, 0, stream, opcode, len(body)) + body


def startup_body() -> bytes:
    items = [b"CQL_VERSION", b"3.0.0"]
    return struct.pack(">H", 1) + b"".join(struct.pack(">H", len(i)) + i for i in items)


def read_frame(sock: socket.socket) -> tuple[int, int, int, bytes]:
    """(version, stream, opcode, body) of the next response frame."""
    head = read_exact(sock, HEADER.size)
    version, _flags, stream, opcode, length = HEADER.unpack(head)
    return version, stream, opcode, read_exact(sock, length)


def is_closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except (ConnectionError, TimeoutError):
        return True


def error_of(body: bytes) -> tuple[int, str]:
    code, length = struct.unpack_from(">iH", body)
    return code, body[6 : 6 + length].decode()


def connect(server: CQLServer) -> socket.socket:
    sock = socket.create_connection((server.host, server.port), timeout=5)
    return sock


def assert_serving(server: CQLServer) -> None:
    with connect(server) as sock:
        sock.sendall(frame(OPTIONS))
        assert read_frame(sock)[2] == SUPPORTED


def test_malformed_body_gets_a_protocol_error_and_the_connection_closes(
    server: CQLServer,
) -> None:
    with connect(server) as sock:
        sock.sendall(frame(STARTUP, startup_body()))
        assert read_frame(sock)[2] == READY
        sock.sendall(frame(QUERY, b"\x00\x00\x10\x00abc", stream=3))  # string longer than body
        _version, stream, opcode, body = read_frame(sock)
        assert (stream, opcode, error_of(body)[0]) == (3, ERROR, 0x000A)
        assert is_closed(sock)
    assert_serving(server)


def test_query_before_startup_is_refused(server: CQLServer) -> None:
    with connect(server) as sock:
        sock.sendall(frame(QUERY, struct.pack(">i", 3) + b"abc" + b"\x00\x01\x00"))
        _version, _stream, opcode, body = read_frame(sock)
        assert opcode == ERROR
        assert "STARTUP" in error_of(body)[1]


def test_absurd_body_length_is_refused_without_waiting_for_it(server: CQLServer) -> None:
    with connect(server) as sock:
        sock.sendall(HEADER.pack(4, 0, 1, OPTIONS, 2**30))
        _version, _stream, opcode, body = read_frame(sock)
        assert opcode == ERROR
        assert "length" in error_of(body)[1]
        assert is_closed(sock)


def test_many_concurrent_streams_on_one_connection(session: Session) -> None:
    session.execute("CREATE TABLE t (k int PRIMARY KEY, v int)")
    insert = session.prepare("INSERT INTO t (k, v) VALUES (?, ?)")
    futures = [session.execute_async(insert, (i, i * 2)) for i in range(2000)]
    for future in futures:
        future.result()
    select = session.prepare("SELECT v FROM t WHERE k = ?")
    reads = [session.execute_async(select, (i,)) for i in range(2000)]
    assert [f.result().one().v for f in reads] == [i * 2 for i in range(2000)]


def test_many_connections_at_once(server: CQLServer) -> None:
    def handshake(_: int) -> int:
        with connect(server) as sock:
            sock.sendall(frame(STARTUP, startup_body(), stream=1))
            return read_frame(sock)[2]

    with ThreadPoolExecutor(16) as pool:
        assert set(pool.map(handshake, range(64))) == {READY}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(garbage=st.binary(min_size=1, max_size=300))
def test_random_bytes_never_break_the_server(server: CQLServer, garbage: bytes) -> None:
    with connect(server) as sock:
        sock.settimeout(0.05)
        sock.sendall(garbage)
        try:
            while sock.recv(4096):
                pass
        except (TimeoutError, ConnectionError):
            pass
    assert_serving(server)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    started=st.booleans(),
    opcode=st.integers(0, 20),
    stream=st.integers(0, 32767),
    body=st.binary(max_size=200),
)
def test_random_well_framed_requests_get_an_answer_or_a_clean_close(
    server: CQLServer, started: bool, opcode: int, stream: int, body: bytes
) -> None:
    with connect(server) as sock:
        sock.settimeout(2)
        if started:
            sock.sendall(frame(STARTUP, startup_body()))
            assert read_frame(sock)[2] == READY
        sock.sendall(frame(opcode, body, stream=stream))
        try:
            _version, answered_stream, _opcode, _body = read_frame(sock)
            assert answered_stream == stream
        except ConnectionError:
            pass
    assert_serving(server)


def _long_string(text: str) -> bytes:
    data = text.encode()
    return struct.pack(">i", len(data)) + data


def _query_with_values(text: str, values: list[bytes], names: list[str] | None = None) -> bytes:
    flags = 0x01 | (0x40 if names else 0)
    body = _long_string(text) + struct.pack(">HBH", 1, flags, len(values))
    for index, value in enumerate(values):
        if names:
            name = names[index].encode()
            body += struct.pack(">H", len(name)) + name
        body += struct.pack(">i", len(value)) + value
    return body


def _rows(sock: socket.socket, body: bytes, stream: int) -> list[list[object]]:
    from cassandra.protocol import ProtocolHandler

    sock.sendall(frame(QUERY, body, stream=stream))
    _version, answered, opcode, reply = read_frame(sock)
    assert answered == stream
    message = ProtocolHandler.decode_message(4, {}, stream, 0, opcode, reply, None, None)
    assert opcode == 0x08, message
    return [list(row) for row in (message.parsed_rows or [])]


def test_query_messages_bind_positional_and_named_values(server: CQLServer) -> None:
    with connect(server) as sock:
        sock.sendall(frame(STARTUP, startup_body()))
        assert read_frame(sock)[2] == READY
        setup = [
            "CREATE KEYSPACE wire WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}",
            "CREATE TABLE wire.t (k int PRIMARY KEY, v text)",
        ]
        for number, text in enumerate(setup, start=1):
            sock.sendall(frame(QUERY, _long_string(text) + b"\x00\x01\x00", stream=number))
            assert read_frame(sock)[2] == 0x08
        insert = "INSERT INTO wire.t (k, v) VALUES (?, ?)"
        _rows(sock, _query_with_values(insert, [struct.pack(">i", 7), b"seven"]), 3)
        named = "SELECT v FROM wire.t WHERE k = :key"
        assert _rows(sock, _query_with_values(named, [struct.pack(">i", 7)], ["key"]), 4) == [
            ["seven"]
        ]


_CQL_WORDS = st.sampled_from(
    [
        "SELECT",
        "INSERT",
        "INTO",
        "UPDATE",
        "DELETE",
        "FROM",
        "WHERE",
        "AND",
        "SET",
        "VALUES",
        "IF",
        "NOT",
        "EXISTS",
        "IN",
        "LIMIT",
        "ORDER",
        "BY",
        "ASC",
        "DESC",
        "USING",
        "TTL",
        "BEGIN",
        "BATCH",
        "APPLY",
        "CREATE",
        "TABLE",
        "KEYSPACE",
        "DROP",
        "TRUNCATE",
        "USE",
        "PRIMARY",
        "KEY",
        "WITH",
        "COUNT",
        "DISTINCT",
        "ALLOW",
        "FILTERING",
        "PER",
        "PARTITION",
        "t",
        "k",
        "c",
        "v",
        "l",
        "m",
        "ks",
        "system",
        "local",
        "int",
        "text",
        "list<int>",
        "(",
        ")",
        ",",
        ";",
        "*",
        "=",
        "<",
        ">=",
        "?",
        ":name",
        "[",
        "]",
        "{",
        "}",
        ".",
        "+",
        "-",
        "1",
        "-5",
        "1.5",
        "'str'",
        "0xff",
        "true",
        "null",
        "123e4567-e89b-12d3-a456-426614174000",
        "now()",
        "$$x$$",
    ]
)


_FUZZ_SCHEMA = [
    "CREATE KEYSPACE IF NOT EXISTS ks WITH replication = "
    "{'class': 'SimpleStrategy', 'replication_factor': 1}",
    "CREATE TABLE IF NOT EXISTS ks.t (k int, c int, v text, l list<int>, m map<int, int>, "
    "PRIMARY KEY (k, c))",
    "USE ks",
]


def _run_without_internal_errors(server: CQLServer, statements: list[str]) -> None:
    """Send the fuzz schema then ``statements`` on one connection; no reply may be code 0."""
    with connect(server) as sock:
        sock.sendall(frame(STARTUP, startup_body()))
        assert read_frame(sock)[2] == READY
        for number, statement in enumerate([*_FUZZ_SCHEMA, *statements], start=1):
            sock.sendall(frame(QUERY, _long_string(statement) + b"\x00\x01\x00", stream=number))
            _version, stream, opcode, body = read_frame(sock)
            assert stream == number
            if opcode == ERROR:
                code, message = error_of(body)
                assert code != 0x0000, f"internal error for {statement!r}: {message}"


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(words=st.lists(_CQL_WORDS, min_size=1, max_size=14))
def test_random_cql_gets_a_result_or_a_client_error_never_an_internal_one(
    server: CQLServer, words: list[str]
) -> None:
    text = " ".join(words)
    _run_without_internal_errors(server, [text])
    assert_serving(server)


_TERMS = st.sampled_from(
    [
        "1",
        "-1",
        "2147483648",
        "'x'",
        "''",
        "1.5",
        "[1, 2]",
        "[]",
        "{1: 2}",
        "{1}",
        "{}",
        "null",
        "0x00",
        "now()",
        "true",
        "NaN",
        "$$y$$",
    ]
)


@st.composite
def _statements(draw: st.DrawFn) -> str:
    def term() -> str:
        value: str = draw(_TERMS)
        return value

    kind = draw(st.integers(0, 3))
    if kind == 0:
        suffix = draw(st.sampled_from(["", "IF NOT EXISTS", "USING TTL 5", "USING TTL " + term()]))
        values = ", ".join(term() for _ in range(5))
        return f"INSERT INTO t (k, c, v, l, m) VALUES ({values}) {suffix}"
    if kind == 1:
        assign = draw(
            st.sampled_from(["v = ", "l = l + ", "l = l - ", "m = m + ", "l[0] = ", "m[1] = "])
        )
        cond = draw(st.sampled_from(["", "IF EXISTS", "IF v = 'x'", "IF v IN ('x', 'y')"]))
        return f"UPDATE t SET {assign}{term()} WHERE k = {term()} AND c = {term()} {cond}"
    if kind == 2:
        selector = draw(st.sampled_from(["*", "k, v", "COUNT(*)", "DISTINCT k", "l, m"]))
        relation = draw(st.sampled_from(["k = ", "k IN (1, ", "k > "]))
        closing = ")" if relation.endswith(", ") else ""
        extra = draw(st.sampled_from(["", " AND c > 0", " AND c IN (1, 2)", " AND v = 'x'"]))
        tail = draw(st.sampled_from(["", " ORDER BY c DESC", " LIMIT 2", " ALLOW FILTERING"]))
        return f"SELECT {selector} FROM t WHERE {relation}{term()}{closing}{extra}{tail}"
    columns = draw(st.sampled_from(["", "v", "l, m"]))
    extra = draw(st.sampled_from(["", " AND c = 1", " AND c >= 1", " AND c < 5"]))
    return f"DELETE {columns} FROM t WHERE k = {term()}{extra}"


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(statements=st.lists(_statements(), min_size=1, max_size=6))
def test_random_statements_of_the_subset_never_cause_an_internal_error(
    server: CQLServer, statements: list[str]
) -> None:
    _run_without_internal_errors(server, statements)
