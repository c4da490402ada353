"""The in-memory server survives well-formed frames with hostile *contents*, and keeps serving.

``tests/testing/test_protocol.py`` already throws random bytes, random opcodes with random
bodies and random CQL at the server. This suite goes one layer deeper: bodies that follow each
message's layout (query parameters with every flag, paging states, bound values, batches,
prepared ids that exist) but carry random values, several frames pipelined in one stream and
cut at random points. The properties: every byte the server sends back is a well-formed
response frame the driver can decode, answering a stream that was asked; no request ever
reaches the server's internal-error path; and afterwards a real driver session still works.
"""

from __future__ import annotations

import io
import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from cassandra.connection import locally_supported_compressions, segment_codec_no_compression
from cassandra.protocol import ErrorMessage, ProtocolException, ProtocolHandler, ServerError
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from testing.driver_wire import DriverWire  # tests/testing, on the path as "testing"

from cassandra_asgi import connect
from cassandra_asgi.testing import CQLServer

from .conftest import PING, server_config

pytestmark = pytest.mark.memory_only

HEADER = struct.Struct(">BBhBi")
STARTUP, OPTIONS, QUERY, PREPARE, EXECUTE, REGISTER, BATCH, AUTH_RESPONSE = (
    0x01, 0x05, 0x07, 0x09, 0x0A, 0x0B, 0x0D, 0x0F,
)  # fmt: skip
RESPONSE_FLAG = 0x80
COMPRESSED = 0x01
EVENT_STREAM = -1
TABLE_SETUP = (
    "CREATE KEYSPACE fuzz WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
    "CREATE TABLE fuzz.t (k int, c int, v text, l list<int>, PRIMARY KEY (k, c))",
    "INSERT INTO fuzz.t (k, c, v, l) VALUES (1, 1, 'a', [1, 2])",
    "INSERT INTO fuzz.t (k, c, v, l) VALUES (1, 2, 'b', [3])",
)
PREPARED_TEXTS = (
    "SELECT * FROM fuzz.t WHERE k = ?",
    "INSERT INTO fuzz.t (k, c, v, l) VALUES (?, ?, ?, ?)",
    "UPDATE fuzz.t SET v = ? WHERE k = ? AND c = ?",
)
CQL_TEXTS = (
    PING,
    "SELECT * FROM fuzz.t",
    "SELECT * FROM fuzz.t WHERE k = ?",
    "SELECT v FROM fuzz.t WHERE k = ? AND c > ?",
    "INSERT INTO fuzz.t (k, c, v) VALUES (?, ?, ?)",
    "INSERT INTO fuzz.t (k, c, v) VALUES (:k, :c, :v)",
    "UPDATE fuzz.t SET l = l + ? WHERE k = ? AND c = ?",
    "DELETE FROM fuzz.t WHERE k = ?",
    "USE fuzz",
    "SELECT * FROM system_schema.tables",
)


# -- protocol notations ------------------------------------------------------------------------
def short(n: int) -> bytes:
    return struct.pack(">H", n)


def string(text: str) -> bytes:
    data = text.encode()
    return short(len(data)) + data


def long_string(text: str) -> bytes:
    data = text.encode()
    return struct.pack(">i", len(data)) + data


def frame(opcode: int, body: bytes, stream: int, version: int = 4) -> bytes:
    return HEADER.pack(version, 0, stream, opcode, len(body)) + body


def startup_body() -> bytes:
    return short(1) + string("CQL_VERSION") + string("3.0.0")


# -- strategies --------------------------------------------------------------------------------
def sized(raw: bytes) -> bytes:
    return struct.pack(">i", len(raw)) + raw


values = st.one_of(
    st.integers(-(2**31), 2**31 - 1).map(lambda n: sized(struct.pack(">i", n))),  # an int
    st.text(max_size=8).map(lambda t: sized(t.encode())),  # text
    st.binary(max_size=12).map(sized),  # any bytes
    st.sampled_from([struct.pack(">i", -1), struct.pack(">i", -2)]),  # null, unset
    st.integers(-(2**31), 2**31 - 1).map(lambda n: struct.pack(">i", n)),  # a lying length
)


@st.composite
def query_parameters(draw: st.DrawFn) -> bytes:
    flags = draw(st.one_of(st.sampled_from([0x00, 0x01, 0x05, 0x0D, 0x41]), st.integers(0, 0x7F)))
    flags &= ~0x02  # skip_metadata: rows would come without the metadata our decoder needs
    body = short(draw(st.sampled_from([1, 4, 6, 10, 0, 0xFFFF]))) + bytes([flags])
    if flags & 0x01:
        count = draw(st.integers(0, 5))
        body += short(count)
        for _ in range(count):
            if flags & 0x40:
                body += string(draw(st.sampled_from(["k", "c", "v", "nope", ""])))
            body += draw(values)
    if flags & 0x04:
        body += struct.pack(">i", draw(st.integers(-(2**31), 2**31 - 1)))
    if flags & 0x08:
        body += draw(values)  # a paging state: random bytes, null or a lying length
    if flags & 0x10:
        body += short(draw(st.integers(0, 0xFFFF)))
    if flags & 0x20:
        body += struct.pack(">q", draw(st.integers(-(2**63), 2**63 - 1)))
    return body


@st.composite
def request_bodies(draw: st.DrawFn, prepared_ids: tuple[bytes, ...]) -> tuple[int, bytes]:
    opcode = draw(st.sampled_from([QUERY, PREPARE, EXECUTE, BATCH, REGISTER, OPTIONS, STARTUP]))
    text = draw(st.one_of(st.sampled_from(CQL_TEXTS), st.text(max_size=40)))
    statement_id = draw(st.one_of(st.sampled_from(prepared_ids), st.binary(max_size=20)))
    if opcode == QUERY:
        body = long_string(text) + draw(query_parameters())
    elif opcode == PREPARE:
        body = long_string(text)
    elif opcode == EXECUTE:
        body = short(len(statement_id)) + statement_id + draw(query_parameters())
    elif opcode == BATCH:
        members = draw(st.integers(0, 3))
        body = bytes([draw(st.integers(0, 3))]) + short(members)
        for _ in range(members):
            kind = draw(st.integers(0, 2))
            body += bytes([kind])
            body += long_string(text) if kind == 0 else short(len(statement_id)) + statement_id
            count = draw(st.integers(0, 4))
            body += short(count) + b"".join(draw(values) for _ in range(count))
        flags = draw(st.sampled_from([0, 0x10, 0x20, 0x30, 0x40]))
        body += short(draw(st.integers(0, 10))) + bytes([flags])
        body += short(9) if flags & 0x10 else b""
        body += struct.pack(">q", 1) if flags & 0x20 else b""
    elif opcode == REGISTER:
        events = draw(st.lists(st.sampled_from(["SCHEMA_CHANGE", "STATUS_CHANGE", "x"])))
        body = short(len(events)) + b"".join(string(e) for e in events)
    elif opcode == STARTUP:
        options = draw(
            st.dictionaries(
                st.sampled_from(["CQL_VERSION", "COMPRESSION", "X"]),
                st.sampled_from(["3.0.0", "lz4", "", "snappy"]),
            )
        )
        body = short(len(options)) + b"".join(string(k) + string(v) for k, v in options.items())
    else:
        body = b""
    if draw(st.integers(0, 4)) == 0:  # sometimes cut the body short or leave bytes over
        cut = draw(st.integers(0, len(body)))
        body = body[:cut] + draw(st.binary(max_size=4))
    return opcode, body


# -- talking to the server ---------------------------------------------------------------------
def exchange(server: CQLServer, payload: bytes, cuts: list[int]) -> bytes:
    """Send ``payload`` in pieces split at ``cuts``, half-close, and return every reply byte."""
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        start = 0
        try:
            for cut in [*sorted(cuts), len(payload)]:
                if cut > start:
                    sock.sendall(payload[start:cut])
                    start = cut
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server closed a connection that broke the protocol: fine
            pass
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:  # the server may abort a connection it gave up on
            pass
    return received


def decompressed(body: bytes) -> bytes:
    """A compressed answer body, inflated by whichever of the driver's codecs it is in."""
    for _compress, decompress in locally_supported_compressions.values():
        try:
            inflated: bytes = decompress(body)
        except Exception:
            continue
        return inflated
    raise AssertionError(f"a compressed body none of the driver's codecs inflates: {body!r}")


def response_frames(data: bytes) -> Iterator[tuple[int, int, Any]]:
    """Decode ``data`` as response frames with the driver's decoder: (stream, opcode, message)."""
    position = 0
    while position < len(data):
        assert len(data) - position >= HEADER.size, f"a truncated header: {data[position:]!r}"
        version, flags, stream, opcode, length = HEADER.unpack_from(data, position)
        assert version & RESPONSE_FLAG, f"a frame without the response flag: {version:#x}"
        assert flags in (0, COMPRESSED), f"unexpected frame flags {flags:#x}"
        body = data[position + HEADER.size : position + HEADER.size + length]
        assert len(body) == length, "a frame body shorter than its declared length"
        if flags == COMPRESSED:  # a fuzzed STARTUP asked for compression and got it
            body, flags = decompressed(body), 0
        message = ProtocolHandler.decode_message(
            version & 0x7F, {}, stream, flags, opcode, body, None, None
        )
        yield stream, opcode, message
        position += HEADER.size + length


def prepare_ids(server: CQLServer) -> tuple[bytes, ...]:
    """Set up the fuzz table and prepare a few statements through the raw protocol."""
    payload = frame(STARTUP, startup_body(), 0)
    for stream, text in enumerate(TABLE_SETUP, start=1):
        payload += frame(QUERY, long_string(text) + short(1) + b"\x00", stream)
    first = len(TABLE_SETUP) + 1
    for stream, text in enumerate(PREPARED_TEXTS, start=first):
        payload += frame(PREPARE, long_string(text), stream)
    ids = []
    for stream, _opcode, message in response_frames(exchange(server, payload, [])):
        assert not isinstance(message, ErrorMessage), message
        if stream >= first:
            ids.append(message.query_id)
    assert len(ids) == len(PREPARED_TEXTS)
    return tuple(ids)


@pytest.fixture(scope="module")
def fuzzed_server() -> Iterator[tuple[CQLServer, tuple[bytes, ...]]]:
    with CQLServer() as server:
        yield server, prepare_ids(server)


@pytest.mark.slow
@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_hostile_bodies_get_well_formed_answers_and_never_an_internal_error(
    fuzzed_server: tuple[CQLServer, tuple[bytes, ...]], data: st.DataObject
) -> None:
    server, prepared_ids = fuzzed_server
    version = data.draw(st.sampled_from([3, 4]), label="version")
    started = data.draw(st.integers(0, 9), label="send STARTUP first") > 0
    requests = data.draw(st.lists(request_bodies(prepared_ids), min_size=1, max_size=5))
    streams = data.draw(
        st.lists(st.integers(0, 32767), min_size=len(requests), max_size=len(requests))
    )
    payload = frame(STARTUP, startup_body(), 0, version) if started else b""
    payload += b"".join(
        frame(opcode, body, stream, version)
        for (opcode, body), stream in zip(requests, streams, strict=True)
    )
    cuts = data.draw(st.lists(st.integers(0, len(payload)), max_size=6), label="cuts")
    asked = {*streams, 0}
    for stream, _opcode, message in response_frames(exchange(server, payload, cuts)):
        assert stream in asked or stream == EVENT_STREAM, f"answered unasked stream {stream}"
        event(type(message).__name__)  # see the mix with --hypothesis-show-statistics
        if isinstance(message, ServerError):
            pytest.fail(f"an internal server error: {message}")


def test_an_empty_int_value_in_a_range_relation_sorts_first_as_in_cassandra(
    fuzzed_server: tuple[CQLServer, tuple[bytes, ...]],
) -> None:
    # Found by the fuzzer: a zero-length int once became an internal server error. Cassandra
    # treats it as the type's "empty" value, smaller than every other: a valid query.
    server, _ = fuzzed_server
    text = "SELECT c FROM fuzz.t WHERE k = ? AND c > ?"
    parameters = short(1) + b"\x01" + short(2) + sized(struct.pack(">i", 1)) + sized(b"")
    everything = "SELECT c FROM fuzz.t WHERE k = 1"
    payload = (
        frame(STARTUP, startup_body(), 0)
        + frame(QUERY, long_string(text) + parameters, 1)
        + frame(QUERY, long_string(everything) + short(1) + b"\x00", 2)
    )
    answers = {
        stream: message for stream, _, message in response_frames(exchange(server, payload, []))
    }
    assert not isinstance(answers[1], ErrorMessage), answers[1]
    non_empty = [row for row in answers[2].parsed_rows if row[0] not in (None, b"")]
    assert len(answers[1].parsed_rows) == len(non_empty) > 0


async def test_a_driver_session_works_after_the_fuzzing(
    fuzzed_server: tuple[CQLServer, tuple[bytes, ...]],
) -> None:
    server, _ = fuzzed_server
    async with connect(server_config(server, connect_timeout=10)) as session:
        assert (await session.execute(PING)).one() is not None
        rows = await (await session.execute("SELECT k, c FROM fuzz.t WHERE k = 1")).all()
        assert [(row.k, row.c) for row in rows][:2] == [(1, 1), (1, 2)]


# -- protocol v5 segments ----------------------------------------------------------------------
def v5_session(server: CQLServer, compression: str | None) -> DriverWire:
    """A v5 connection past STARTUP, speaking segments through the driver's own codec."""
    wire = DriverWire(server, version=5, compression=compression)
    wire.start()
    return wire


def v5_replies(wire: DriverWire) -> list[Any]:
    """Every answer until the server closes the connection or falls silent."""
    wire.sock.settimeout(1.0)
    replies = []
    try:
        while True:
            replies.append(wire.receive()[1])
    except (ConnectionError, TimeoutError, OSError):
        pass
    return replies


@st.composite
def corrupt_segments(draw: st.DrawFn) -> tuple[str, bytes]:
    """A well-formed v5 segment carrying a QUERY, then damaged in one of the ways that matter."""
    from cassandra.protocol import QueryMessage

    text = draw(st.sampled_from(CQL_TEXTS))
    frame = ProtocolHandler.encode_message(QueryMessage(text, 1), 5, 5, None, False)
    kind = draw(st.sampled_from(["header crc", "payload crc", "truncated", "oversized", "garbage"]))
    written = io.BytesIO()
    segment_codec_no_compression.encode(written, frame)
    segment = bytearray(written.getvalue())
    if kind == "header crc":
        segment[draw(st.integers(0, 5))] ^= 1 << draw(st.integers(0, 7))
    elif kind == "payload crc":
        segment[draw(st.integers(6, len(segment) - 1))] ^= 1 << draw(st.integers(0, 7))
    elif kind == "truncated":
        segment = segment[: draw(st.integers(1, len(segment) - 1))]
    elif kind == "oversized":
        # a valid segment whose envelope claims far more body than the segment holds
        claimed = draw(st.sampled_from([len(frame), 2**17, 2**28, 2**31 - 1, -5]))
        envelope = frame[:5] + struct.pack(">i", claimed) + frame[9:]
        written = io.BytesIO()
        segment_codec_no_compression.encode(written, envelope)
        segment = bytearray(written.getvalue())
    else:
        segment = bytearray(draw(st.binary(min_size=1, max_size=64)))
    return kind, bytes(segment)


@pytest.mark.slow
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged=corrupt_segments())
def test_corrupt_v5_segments_get_a_protocol_error_or_a_closed_connection(
    fuzzed_server: tuple[CQLServer, tuple[bytes, ...]], damaged: tuple[str, bytes]
) -> None:
    server, _ = fuzzed_server
    kind, segment = damaged
    event(kind)
    with v5_session(server, None) as wire:
        wire.send_raw(segment)
        if kind == "truncated":
            wire.sock.shutdown(socket.SHUT_WR)  # the rest never comes: the server must not hang
        replies = v5_replies(wire)
        for reply in replies:
            assert not isinstance(reply, ServerError), f"an internal server error: {reply}"
        if kind in ("header crc", "payload crc"):
            assert replies, "a corrupt segment got no answer"
            assert isinstance(replies[-1], ProtocolException), replies
            assert wire.closed()
        elif kind == "oversized" and replies and isinstance(replies[-1], ErrorMessage):
            assert isinstance(replies[-1], ProtocolException), replies
            assert wire.closed()
    with v5_session(server, "lz4") as wire:  # and the node still serves v5 connections
        wire.send(ping_message(), 9)
        assert wire.receive()[0] == 9


def ping_message() -> Any:
    from cassandra.protocol import QueryMessage

    return QueryMessage(PING, 1)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_hostile_v5_bodies_in_valid_segments_never_cause_an_internal_error(
    fuzzed_server: tuple[CQLServer, tuple[bytes, ...]], data: st.DataObject
) -> None:
    server, prepared_ids = fuzzed_server
    compression = data.draw(st.sampled_from([None, "lz4"]), label="compression")
    requests = data.draw(st.lists(request_bodies(prepared_ids), min_size=1, max_size=4))
    with v5_session(server, compression) as wire:
        try:
            for stream, (opcode, body) in enumerate(requests, start=10):
                wire.send_raw(wire.wrap(frame(opcode, body, stream, version=5)))
        except OSError:  # the server closed a connection that broke the protocol: fine
            pass
        for reply in v5_replies(wire):
            event(type(reply).__name__)
            assert not isinstance(reply, ServerError), f"an internal server error: {reply}"
