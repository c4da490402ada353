"""Version negotiation and compression, as a Cassandra 4.1 node does them.

A default driver ``Cluster()`` opens with the DSE versions 66 and 65, gets Cassandra 4.1's
ProtocolError for each, and settles on v5; it compresses with LZ4 whenever the ``lz4``
package is installed and the node offers it.
"""

from __future__ import annotations

import io
import logging
import struct
import warnings

import pytest
from cassandra.cluster import Cluster
from cassandra.protocol import ErrorMessage, OptionsMessage, ProtocolException, SupportedMessage

from cassandra_asgi.config import CassandraConfig
from cassandra_asgi.testing import CQLServer

from .conftest import KEYSPACE_CQL, make_cluster, make_target_cluster
from .driver_wire import DriverWire, read_plain_frame

OPTIONS, ERROR = 0x05, 0x00
SUPPORTED_TEXT = "3/v3, 4/v4, 5/v5"


def default_cluster(contact: str, port: int) -> Cluster:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the driver warns when no load-balancing policy is set
        return Cluster([contact], port=port)  # no protocol_version: the driver negotiates


def test_a_default_cluster_negotiates_protocol_v5(cassandra_config: CassandraConfig) -> None:
    cluster = make_target_cluster(cassandra_config)
    try:
        session = cluster.connect()
        assert cluster.protocol_version == 5
        release = session.execute("SELECT release_version FROM system.local").one()[0]
        assert release.split(".")[0] in ("4", "5")
    finally:
        cluster.shutdown()


@pytest.mark.memory_only
def test_the_node_reports_cassandra_4_1_and_native_protocol_5(server: CQLServer) -> None:
    cluster = make_cluster(server)
    try:
        row = (
            cluster.connect()
            .execute(
                "SELECT release_version, native_protocol_version, cql_version FROM system.local"
            )
            .one()
        )
        assert row.release_version.startswith("4.1.")
        assert (row.native_protocol_version, row.cql_version) == ("5", "3.4.6")
    finally:
        cluster.shutdown()


@pytest.mark.memory_only
def test_a_default_connect_warns_only_of_the_dse_downgrades_a_4_1_node_causes(
    server: CQLServer, caplog: pytest.LogCaptureFixture
) -> None:
    # Against Cassandra 4.1 the driver (3.30) still opens with DSE v66 and v65 and logs one
    # downgrade for each; with v5 served it never falls back further, to v4.
    cluster = default_cluster(server.host, server.port)
    caplog.clear()  # the constructor's own warning (no load-balancing policy) is not ours
    try:
        with caplog.at_level(logging.WARNING, logger="cassandra"):
            cluster.connect()
    finally:
        cluster.shutdown()
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    downgrades = [m.split(" for ")[0] for m in warned if "Downgrading" in m]
    assert downgrades == [
        "Downgrading core protocol version from 66 to 65",
        "Downgrading core protocol version from 65 to 5",
    ]
    assert [m for m in warned if "Downgrading" not in m] == []


@pytest.mark.memory_only
def test_a_connect_pinned_to_v5_logs_no_warning_at_all(
    server: CQLServer, caplog: pytest.LogCaptureFixture
) -> None:
    cluster = make_cluster(server, protocol_version=5)
    try:
        with caplog.at_level(logging.WARNING, logger="cassandra"):
            cluster.connect().execute("SELECT key FROM system.local")
    finally:
        cluster.shutdown()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def _options_frame(version: int) -> bytes:
    return struct.pack(">BBhBi", version, 0, 0, OPTIONS, 0)


def _error_text(body: bytes) -> tuple[int, str]:
    code, length = struct.unpack_from(">iH", body)
    return code, body[6 : 6 + length].decode()


@pytest.mark.memory_only
@pytest.mark.parametrize("version", [66, 65, 6, 99])
def test_versions_not_served_get_the_protocol_error_cassandra_4_1_sends(
    server: CQLServer, version: int
) -> None:
    # Cassandra 4.1 answers in its preferred version (v5), on stream 0, with a plain frame
    with DriverWire(server) as wire:
        wire.send_raw(_options_frame(version))
        frame_version, flags, stream, opcode, body = read_plain_frame(wire.sock)
        assert (frame_version, flags, stream, opcode) == (0x85, 0, 0, ERROR)
        assert _error_text(body) == (
            0x000A,
            f"Invalid or unsupported protocol version ({version}); "
            f"supported versions are ({SUPPORTED_TEXT})",
        )
        message = ErrorMessage.recv_body(io.BytesIO(body), 5, {}, None)
        assert isinstance(message, ProtocolException)
        assert "unsupported protocol version" in message.message  # what makes the driver retry


@pytest.mark.memory_only
@pytest.mark.parametrize("version", [1, 2])
def test_retired_versions_are_answered_in_their_own_version(
    server: CQLServer, version: int
) -> None:
    with DriverWire(server) as wire:
        wire.send_raw(struct.pack(">BBbBi", version, 0, 0, OPTIONS, 0))
        head = wire.sock.recv(8)
        frame_version, _flags, stream, opcode, length = struct.unpack(">BBbBi", head)
        assert (frame_version, stream, opcode) == (0x80 | version, 0, ERROR)
        assert f"unsupported protocol version ({version})" in _error_text(wire.sock.recv(length))[1]


@pytest.mark.memory_only
def test_supported_lists_the_versions_and_compressions_a_4_1_node_offers(
    server: CQLServer,
) -> None:
    with DriverWire(server) as wire:
        wire.send(OptionsMessage(), 0)
        _stream, supported = wire.receive()
    assert isinstance(supported, SupportedMessage)
    assert supported.options["PROTOCOL_VERSIONS"] == ["3/v3", "4/v4", "5/v5"]
    assert supported.options["COMPRESSION"] == ["snappy", "lz4"]
    assert supported.cql_versions == ["3.4.6"]


@pytest.mark.memory_only
def test_a_server_restricted_to_v3_and_v4_is_negotiated_down_to_v4() -> None:
    with CQLServer(protocol_versions=(3, 4)) as server:
        cluster = default_cluster(server.host, server.port)
        try:
            cluster.connect().execute("SELECT key FROM system.local")
            assert cluster.protocol_version == 4
        finally:
            cluster.shutdown()
        with DriverWire(server) as wire:
            wire.send_raw(_options_frame(5))
            frame_version, _flags, _stream, _opcode, body = read_plain_frame(wire.sock)
        assert frame_version == 0x84
        assert _error_text(body)[1].endswith("supported versions are (3/v3, 4/v4)")


def test_a_server_restricted_to_nothing_it_serves_is_refused() -> None:
    with pytest.raises(ValueError, match="protocol_versions"):
        CQLServer(protocol_versions=(2, 4))
    with pytest.raises(ValueError, match="protocol_versions"):
        CQLServer(protocol_versions=())


# --- compression ------------------------------------------------------------------------------

_BIG_TEXT = "compressible " * 20_000  # 260 KB: more than one v5 segment, squeezes to ~1 KB


@pytest.mark.memory_only
@pytest.mark.parametrize(
    ("version", "compression", "segments"),
    [(5, "lz4", True), (4, "lz4", False), (4, "snappy", False), (3, "lz4", False)],
)
def test_the_driver_compresses_and_the_bytes_on_the_wire_shrink(
    server: CQLServer, version: int, compression: str, segments: bool
) -> None:
    cluster = make_cluster(server, protocol_version=version, compression=compression)
    try:
        session = cluster.connect()
        session.execute(KEYSPACE_CQL.format("squeeze"))
        session.execute("CREATE TABLE squeeze.t (k int PRIMARY KEY, v text)")
        before = sum(c.bytes_received + c.bytes_sent for c in server.connections())
        session.execute("INSERT INTO squeeze.t (k, v) VALUES (1, %s)", (_BIG_TEXT,))
        assert session.execute("SELECT v FROM squeeze.t WHERE k = 1").one().v == _BIG_TEXT
        views = server.connections()
        moved = sum(c.bytes_received + c.bytes_sent for c in views) - before
    finally:
        cluster.shutdown()
    assert {(c.protocol_version, c.compression, c.segments) for c in views} == {
        (version, compression, segments)
    }
    assert moved < len(_BIG_TEXT) // 10  # the text crossed twice, compressed each way


@pytest.mark.memory_only
@pytest.mark.parametrize(
    ("options", "compression"),
    [({}, "lz4"), ({"compression": False}, None)],
    ids=["default-compresses-with-lz4-when-installed", "compression-off"],
)
def test_a_v5_connection_uses_segments_compressed_as_the_driver_asks(
    server: CQLServer, options: dict[str, object], compression: str | None
) -> None:
    pytest.importorskip("lz4")
    cluster = make_cluster(server, **options)  # no protocol_version: the driver negotiates
    try:
        cluster.connect().execute("SELECT key FROM system.local")
        views = server.connections()
    finally:
        cluster.shutdown()
    assert views
    assert all(
        (c.protocol_version, c.compression, c.segments) == (5, compression, True) for c in views
    )


@pytest.mark.memory_only
@pytest.mark.parametrize(
    ("version", "compression", "message"),
    [
        (5, "snappy", "Snappy compression is no longer supported."),
        (4, "zstd", "Unknown compression algorithm: zstd"),
    ],
)
def test_a_compression_cassandra_refuses_gets_its_protocol_error(
    server: CQLServer, version: int, compression: str, message: str
) -> None:
    from cassandra.protocol import StartupMessage

    with DriverWire(server, version=version) as wire:
        wire.send(StartupMessage("3.0.0", {"CQL_VERSION": "3.0.0", "COMPRESSION": compression}), 3)
        stream, error = wire.receive()
        assert stream == 3
        assert isinstance(error, ProtocolException)
        assert error.message.startswith(message)
        assert wire.closed()
