"""Protocol v5 on the wire: segments, their checksums, and v5's message bodies.

Every request here is encoded, and every answer decoded, by the driver's own codecs
(``driver_wire``), the same code that talks to a real Cassandra 4.1.
"""

from __future__ import annotations

import hashlib
import io
import struct
import time
import zlib
from typing import Any

import pytest
from cassandra import ConsistencyLevel, ReadFailure, WriteFailure
from cassandra.cluster import EXEC_PROFILE_DEFAULT, ExecutionProfile
from cassandra.policies import FallthroughRetryPolicy, RoundRobinPolicy
from cassandra.protocol import (
    BatchMessage,
    ExecuteMessage,
    PrepareMessage,
    ProtocolException,
    QueryMessage,
    ResultMessage,
    write_consistency_level,
    write_int,
    write_short,
    write_value,
)
from cassandra.query import BatchType, SimpleStatement
from cassandra.segment import CRC32_INITIAL, compute_crc24

from cassandra_asgi.testing import CQLServer
from cassandra_asgi.testing.wire.segments import SegmentCodec, crc24, crc32

from .conftest import KEYSPACE_CQL, make_cluster
from .driver_wire import DriverWire

pytestmark = pytest.mark.memory_only

ONE = ConsistencyLevel.ONE


# --- the checksums and the segment layout -------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, 0x020005, 0x1FFFF, 0xFFFFFF, 0x7_FFFF_FFFF])
@pytest.mark.parametrize("length", [3, 5])
def test_crc24_matches_the_drivers_reference_implementation(value: int, length: int) -> None:
    assert crc24(value, length) == compute_crc24(value, length)


def test_crc32_is_primed_with_cassandras_initial_bytes() -> None:
    assert zlib.crc32(b"", CRC32_INITIAL) == crc32(b"")
    assert crc32(b"payload") == zlib.crc32(b"payload", zlib.crc32(b"\xfa\x2d\x55\xca"))


def test_a_spec_header_five_bytes_self_contained_is_laid_out_little_endian() -> None:
    # native_protocol_v5.spec, 2.2: 17 bits of payload length, then the self-contained flag
    segment = SegmentCodec(compressed=False, max_envelope=1024).encode([b"\x05" * 5])
    header = 5 | 1 << 17
    assert segment[:3] == header.to_bytes(3, "little") == b"\x05\x00\x02"
    assert segment[3:6] == compute_crc24(header, 3).to_bytes(3, "little")
    assert segment[6:11] == b"\x05" * 5
    assert segment[11:] == zlib.crc32(b"\x05" * 5, CRC32_INITIAL).to_bytes(4, "little")


def _fields(envelope: bytes) -> tuple[int, int, int, int, bytes]:
    """An envelope as the codec hands it over: its header fields and its body."""
    version, flags, stream, opcode, _length = struct.unpack_from(">BBhBi", envelope)
    return version, flags, stream, opcode, envelope[9:]


def _envelope(size: int) -> bytes:
    body = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    return struct.pack(">BBhBi", 0x85, 0, 7, 0x08, len(body)) + body


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize("sizes", [[10], [10, 20, 30], [200_000], [5, 300_000, 5]])
def test_segments_from_the_driver_decode_and_segments_to_it_are_read_back(
    compressed: bool, sizes: list[int]
) -> None:
    from cassandra.connection import segment_codec_lz4, segment_codec_no_compression

    driver = segment_codec_lz4 if compressed else segment_codec_no_compression
    envelopes = [_envelope(size) for size in sizes]
    written = io.BytesIO()
    for envelope in envelopes:
        driver.encode(written, envelope)
    ours = SegmentCodec(compressed=compressed, max_envelope=2**20)
    assert ours.feed(written.getvalue()) == [_fields(envelope) for envelope in envelopes]

    data = ours.encode(envelopes)
    reader, payloads = io.BytesIO(data), b""
    while reader.tell() < len(data):
        header = driver.decode_header(reader)
        payloads += driver.decode(reader, header).payload
    assert payloads == b"".join(envelopes)


def test_segments_cut_at_every_byte_still_decode() -> None:
    from cassandra.connection import segment_codec_no_compression

    written = io.BytesIO()
    segment_codec_no_compression.encode(written, _envelope(40))
    data = written.getvalue()
    codec = SegmentCodec(compressed=False, max_envelope=1024)
    got = [envelope for byte in range(len(data)) for envelope in codec.feed(data[byte : byte + 1])]
    assert got == [_fields(_envelope(40))]


# --- v5 messages through the driver's codecs ----------------------------------------------


def _wire(server: CQLServer, compression: str | None = None) -> DriverWire:
    wire = DriverWire(server, version=5, compression=compression)
    wire.start()
    return wire


def _query(wire: DriverWire, text: str, stream: int, **options: object) -> object:
    wire.send(QueryMessage(text, ONE, **options), stream)
    answered, message = wire.receive()
    assert answered == stream
    return message


@pytest.mark.parametrize("compression", [None, "lz4"])
def test_v5_queries_and_results_travel_in_segments(
    server: CQLServer, compression: str | None
) -> None:
    with _wire(server, compression) as wire:
        assert isinstance(_query(wire, KEYSPACE_CQL.format("five"), 2), ResultMessage)
        _query(wire, "CREATE TABLE five.t (k int PRIMARY KEY, v blob)", 3)
        big = b"\x00\x01" * 150_000  # 300 KB: a run of non-self-contained segments each way
        insert = "INSERT INTO five.t (k, v) VALUES (1, 0x" + big.hex() + ")"
        _query(wire, insert, 4)
        rows = _query(wire, "SELECT v FROM five.t WHERE k = 1", 5)
        assert rows.parsed_rows == [(big,)]  # type: ignore[attr-defined]
    assert {c.compression for c in server.connections()} <= {compression}


def test_v5_query_with_the_keyspace_flag_runs_in_that_keyspace(server: CQLServer) -> None:
    with _wire(server) as wire:
        _query(wire, KEYSPACE_CQL.format("elsewhere"), 2)
        _query(wire, "CREATE TABLE elsewhere.t (k int PRIMARY KEY, v int)", 3)
        _query(wire, "INSERT INTO t (k, v) VALUES (1, 10)", 4, keyspace="elsewhere")
        rows = _query(wire, "SELECT v FROM t WHERE k = 1", 5, keyspace="elsewhere")
        assert rows.parsed_rows == [(10,)]  # type: ignore[attr-defined]
        without = _query(wire, "SELECT v FROM t WHERE k = 1", 6)
        assert "No keyspace has been specified" in str(without)


class _QueryAt(QueryMessage):  # type: ignore[misc]
    """A QUERY with v5's NOW_IN_SECONDS flag, which the driver has no option for."""

    def __init__(self, query: str, now_in_seconds: int) -> None:
        super().__init__(query, ONE)
        self.now_in_seconds = now_in_seconds

    def _write_query_params(self, f: io.BytesIO, protocol_version: int) -> None:
        write_consistency_level(f, self.consistency_level)
        write_int(f, _NOW_IN_SECONDS)
        write_int(f, self.now_in_seconds)


class _BatchAt(BatchMessage):  # type: ignore[misc]
    """A BATCH with the NOW_IN_SECONDS flag: the driver's body, its closing flags replaced."""

    def __init__(self, queries: list[str], now_in_seconds: int) -> None:
        super().__init__(BatchType.UNLOGGED, [(False, text, ()) for text in queries], ONE)
        self.now_in_seconds = now_in_seconds

    def send_body(self, f: io.BytesIO, protocol_version: int) -> None:
        body = io.BytesIO()
        super().send_body(body, protocol_version)
        f.write(body.getvalue()[:-4])  # the driver ends with its flags: 0, an [int] at v5
        write_int(f, _NOW_IN_SECONDS)
        write_int(f, self.now_in_seconds)


class _ExecuteAt(ExecuteMessage):  # type: ignore[misc]
    """An EXECUTE with values and the NOW_IN_SECONDS flag."""

    def __init__(self, prepared: Any, values: list[bytes], now_in_seconds: int) -> None:
        super().__init__(
            prepared.query_id, values, ONE, result_metadata_id=prepared.result_metadata_id
        )
        self.now_in_seconds = now_in_seconds

    def _write_query_params(self, f: io.BytesIO, protocol_version: int) -> None:
        write_consistency_level(f, self.consistency_level)
        write_int(f, _VALUES | _NOW_IN_SECONDS)
        write_short(f, len(self.query_params))
        for value in self.query_params:
            write_value(f, value)
        write_int(f, self.now_in_seconds)


_NOW_IN_SECONDS = 0x100
_VALUES = 0x01


def _rows_at(wire: DriverWire, text: str, stream: int, now: int | None = None) -> list[Any]:
    wire.send(QueryMessage(text, ONE) if now is None else _QueryAt(text, now), stream)
    answered, message = wire.receive()
    assert answered == stream
    assert isinstance(message, ResultMessage), message
    return list(message.parsed_rows or [])


def _table_for_ttls(wire: DriverWire, keyspace: str) -> None:
    _query(wire, KEYSPACE_CQL.format(keyspace), 2)
    _query(wire, f"CREATE TABLE {keyspace}.t (k int PRIMARY KEY, v int)", 3)


def test_v5_now_in_seconds_is_the_now_a_written_ttl_counts_from(server: CQLServer) -> None:
    past = int(time.time()) - 3600
    with _wire(server) as wire:
        _table_for_ttls(wire, "ttl_write")
        _rows_at(wire, "INSERT INTO ttl_write.t (k, v) VALUES (1, 10) USING TTL 60", 4, past)
        assert _rows_at(wire, "SELECT v FROM ttl_write.t WHERE k = 1", 5) == []  # long expired
        seen = _rows_at(wire, "SELECT v, ttl(v) FROM ttl_write.t WHERE k = 1", 6, past + 20)
    assert seen == [(10, 40)]


def test_v5_now_in_seconds_is_the_now_a_read_checks_ttls_against(server: CQLServer) -> None:
    with _wire(server) as wire:
        _table_for_ttls(wire, "ttl_read")
        _rows_at(wire, "INSERT INTO ttl_read.t (k, v) VALUES (1, 10) USING TTL 60", 4)
        now = int(time.time())
        later = _rows_at(wire, "SELECT v FROM ttl_read.t WHERE k = 1", 5, now + 120)
        sooner = _rows_at(wire, "SELECT v, ttl(v) FROM ttl_read.t WHERE k = 1", 6, now + 30)
        today = _rows_at(wire, "SELECT v FROM ttl_read.t WHERE k = 1", 7)
    assert later == []
    [(value, ttl)] = sooner
    assert value == 10
    assert 29 <= ttl <= 31  # the whole seconds cut off
    assert today == [(10,)]  # a read ahead in time removed nothing


def test_v5_execute_with_now_in_seconds_counts_the_ttl_from_it(server: CQLServer) -> None:
    past = int(time.time()) - 3600
    with _wire(server) as wire:
        _table_for_ttls(wire, "ttl_execute")
        wire.send(PrepareMessage("INSERT INTO ttl_execute.t (k, v) VALUES (?, ?) USING TTL 60"), 4)
        prepared = wire.receive()[1]
        wire.send(_ExecuteAt(prepared, [struct.pack(">i", 1), struct.pack(">i", 10)], past), 5)
        assert isinstance(wire.receive()[1], ResultMessage)
        today = _rows_at(wire, "SELECT v FROM ttl_execute.t WHERE k = 1", 6)
        back_then = _rows_at(wire, "SELECT v, ttl(v) FROM ttl_execute.t WHERE k = 1", 7, past + 5)
    assert today == []
    assert back_then == [(10, 55)]


def test_v5_now_in_seconds_leaves_write_times_on_the_clock(server: CQLServer) -> None:
    past = int(time.time()) - 3600
    with _wire(server) as wire:
        _table_for_ttls(wire, "ttl_clock")
        before = time.time()
        _rows_at(wire, "INSERT INTO ttl_clock.t (k, v) VALUES (1, 10)", 4, past)
        after = time.time()
        [(written,)] = _rows_at(wire, "SELECT writetime(v) FROM ttl_clock.t WHERE k = 1", 5)
    assert before * 1e6 - 1 <= written <= after * 1e6 + 1


def test_v5_batch_with_now_in_seconds_writes_ttls_from_that_now(server: CQLServer) -> None:
    past = int(time.time()) - 3600
    with _wire(server) as wire:
        _table_for_ttls(wire, "ttl_batch")
        inserts = [f"INSERT INTO ttl_batch.t (k, v) VALUES ({k}, {k}) USING TTL 60" for k in (1, 2)]
        wire.send(_BatchAt(inserts, past), 4)
        assert isinstance(wire.receive()[1], ResultMessage)
        today = _rows_at(wire, "SELECT k FROM ttl_batch.t", 5)
        back_then = _rows_at(wire, "SELECT k, ttl(v) FROM ttl_batch.t", 6, past + 50)
    assert today == []
    assert sorted(back_then) == [(1, 10), (2, 10)]


def test_v5_prepare_with_a_keyspace_and_execute_with_the_result_metadata_id(
    server: CQLServer,
) -> None:
    with _wire(server) as wire:
        _query(wire, KEYSPACE_CQL.format("prep"), 2)
        _query(wire, "CREATE TABLE prep.t (k int PRIMARY KEY, v text)", 3)
        _query(wire, "INSERT INTO prep.t (k, v) VALUES (1, 'one')", 4)
        wire.send(PrepareMessage("SELECT k, v FROM t WHERE k = ?", keyspace="prep"), 5)
        _stream, prepared = wire.receive()
        assert isinstance(prepared, ResultMessage)
        assert len(prepared.result_metadata_id) == 16
        assert [c[2] for c in prepared.column_metadata] == ["k", "v"]

        def execute(metadata_id: bytes, stream: int) -> object:
            message = ExecuteMessage(
                prepared.query_id,
                [struct.pack(">i", 1)],
                ONE,
                skip_meta=True,
                result_metadata_id=metadata_id,
            )
            wire.send(message, stream)
            _answered, result = wire.receive(result_metadata=prepared.column_metadata)
            return result

        current = execute(prepared.result_metadata_id, 6)
        assert current.parsed_rows == [(1, "one")]  # type: ignore[attr-defined]
        assert getattr(current, "result_metadata_id", None) is None

        stale = execute(b"\x00" * 16, 7)  # the client holds metadata from before a change
        assert stale.result_metadata_id == prepared.result_metadata_id  # type: ignore[attr-defined]
        assert [c[2] for c in stale.column_metadata] == ["k", "v"]  # type: ignore[attr-defined]
        assert stale.parsed_rows == [(1, "one")]  # type: ignore[attr-defined]


def test_the_result_metadata_id_follows_the_selected_columns(server: CQLServer) -> None:
    with _wire(server) as wire:
        _query(wire, KEYSPACE_CQL.format("ids"), 2)
        _query(wire, "CREATE TABLE ids.t (k int PRIMARY KEY, a int, b int)", 3)
        ids = []
        for stream, text in enumerate(["SELECT a FROM ids.t", "SELECT b FROM ids.t"], start=4):
            wire.send(PrepareMessage(text), stream)
            ids.append(wire.receive()[1].result_metadata_id)
        wire.send(PrepareMessage("INSERT INTO ids.t (k, a) VALUES (?, ?)"), 9)
        no_rows = wire.receive()[1].result_metadata_id
    assert len(set(ids)) == 2
    assert no_rows == hashlib.md5(b"").digest()


@pytest.mark.parametrize(("version", "map_expected"), [(4, False), (5, True)])
def test_read_and_write_failures_carry_a_reason_map_from_v5_on(
    server: CQLServer, version: int, map_expected: bool
) -> None:
    profile = ExecutionProfile(
        load_balancing_policy=RoundRobinPolicy(), retry_policy=FallthroughRetryPolicy()
    )
    cluster = make_cluster(
        server, protocol_version=version, execution_profiles={EXEC_PROFILE_DEFAULT: profile}
    )
    try:
        session = cluster.connect()
        session.execute(KEYSPACE_CQL.format("fails"))
        session.execute("CREATE TABLE fails.t (k int PRIMARY KEY)")
        server.fail("read_failure", pattern="SELECT k FROM fails")
        server.fail("write_failure", pattern="INSERT INTO fails")
        with pytest.raises(ReadFailure) as read:
            session.execute("SELECT k FROM fails.t WHERE k = 1")
        with pytest.raises(WriteFailure) as write:
            session.execute("INSERT INTO fails.t (k) VALUES (1)")
    finally:
        cluster.shutdown()
    for error in (read.value, write.value):
        assert error.failures == 1
        if map_expected:
            assert error.error_code_map == {server.node_address: 0}
        else:
            assert error.error_code_map is None
    assert write.value.write_type == 0  # SIMPLE


def test_the_driver_reads_large_results_at_v5_over_several_segments(server: CQLServer) -> None:
    cluster = make_cluster(server, protocol_version=5)
    try:
        session = cluster.connect()
        session.execute(KEYSPACE_CQL.format("large"))
        session.execute("CREATE TABLE large.t (k int PRIMARY KEY, v blob)")
        insert = session.prepare("INSERT INTO large.t (k, v) VALUES (?, ?)")
        for key in range(4):
            session.execute(insert, (key, bytes([key]) * 100_000))
        rows = session.execute(SimpleStatement("SELECT k, v FROM large.t", fetch_size=10))
        assert sorted((row.k, row.v) for row in rows) == [
            (key, bytes([key]) * 100_000) for key in range(4)
        ]
    finally:
        cluster.shutdown()


# --- corruption -----------------------------------------------------------------------------


@pytest.mark.parametrize(("where", "what"), [(1, "header"), (8, "body")])
def test_a_corrupt_segment_gets_a_protocol_error_and_the_connection_closes(
    server: CQLServer, where: int, what: str
) -> None:
    with _wire(server) as wire:
        segment = bytearray(
            wire.wrap(wire.encode(QueryMessage("SELECT * FROM system.local", ONE), 3))
        )
        segment[where] ^= 0x40
        wire.send_raw(bytes(segment))
        stream, error = wire.receive()
        assert stream == 0  # a corrupt segment cannot be mapped to a stream
        assert isinstance(error, ProtocolException)
        assert f"unrecoverable CRC mismatch detected in frame {what}" in error.message
        assert wire.closed()
    cluster = make_cluster(server, protocol_version=5)
    try:  # the node itself goes on serving
        assert cluster.connect().execute("SELECT key FROM system.local").one().key == "local"
    finally:
        cluster.shutdown()


def test_a_second_startup_keeps_the_segment_framing_and_compression(server: CQLServer) -> None:
    # found by the wire fuzzer: a repeated STARTUP once switched a compressed connection's
    # segments to uncompressed ones mid-stream
    from cassandra.protocol import ReadyMessage, StartupMessage

    with _wire(server, "lz4") as wire:
        wire.send(StartupMessage("3.0.0", {"CQL_VERSION": "3.0.0"}), 2)
        assert isinstance(wire.receive()[1], ReadyMessage)
        rows = _query(wire, "SELECT key FROM system.local", 3)
        assert rows.parsed_rows == [("local",)]  # type: ignore[attr-defined]
    assert [c.compression for c in server.connections()] in ([], ["lz4"])
