"""A raw protocol connection built from the driver's own codecs, never from the server's.

Requests are encoded by ``cassandra.protocol.ProtocolHandler`` and wrapped in segments by
``cassandra.segment.SegmentCodec``; answers are unwrapped and decoded by the same code the
driver uses against a real Cassandra. So every byte checked here is checked against an
independent implementation of the protocol, not against the server's own encoder.
"""

from __future__ import annotations

import io
import socket
import struct
from typing import Any

from cassandra.connection import (
    locally_supported_compressions,
    segment_codec_lz4,
    segment_codec_no_compression,
)
from cassandra.protocol import (
    OptionsMessage,
    ProtocolHandler,
    ReadyMessage,
    StartupMessage,
)
from cassandra.segment import SegmentCodec

from cassandra_asgi.testing import CQLServer

__all__ = ["DriverWire", "read_exact", "read_plain_frame"]

_HEADER = struct.Struct(">BBhBi")


def read_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed by the server")
        data += chunk
    return data


def read_plain_frame(sock: socket.socket) -> tuple[int, int, int, int, bytes]:
    """(version byte, flags, stream, opcode, body) of the next frame outside segments."""
    version, flags, stream, opcode, length = _HEADER.unpack(read_exact(sock, _HEADER.size))
    return version, flags, stream, opcode, read_exact(sock, length)


class DriverWire:
    """One client connection speaking through the driver's encoders and decoders."""

    def __init__(self, server: CQLServer, version: int = 5, compression: str | None = None):
        self.version = version
        self.compression = compression
        self.sock = socket.create_connection((server.host, server.port), timeout=5)
        self.codec: SegmentCodec | None = None
        self._compress: Any = None
        self._decompress: Any = None
        self._ready = False
        self._frames = b""

    def __enter__(self) -> DriverWire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    # --- handshake -----------------------------------------------------------------------

    def start(self) -> None:
        """OPTIONS, then STARTUP (with the compression asked for), then the switch to v5."""
        self.send(OptionsMessage(), 0)
        self.receive()
        options = {"CQL_VERSION": "3.0.0"}
        if self.compression:
            options["COMPRESSION"] = self.compression
            self._compress, self._decompress = locally_supported_compressions[self.compression]
        self.send(StartupMessage(cqlversion="3.0.0", options=options), 1)
        _stream, message = self.receive()
        assert isinstance(message, ReadyMessage), message
        if self.version >= 5:
            self.codec = segment_codec_lz4 if self.compression else segment_codec_no_compression

    # --- sending -------------------------------------------------------------------------

    def encode(self, message: Any, stream: int) -> bytes:
        """The frame the driver would send (compressed when v4 compression is on)."""
        # like the driver, compress frames only from READY on (v5 compresses segments instead)
        compressor = self._compress if self.codec is None and self._ready else None
        frame: bytes = ProtocolHandler.encode_message(
            message, stream, self.version, compressor=compressor, allow_beta_protocol_version=False
        )
        return frame

    def wrap(self, frame: bytes) -> bytes:
        """The bytes that carry ``frame``: itself, or the driver's segments on v5."""
        if self.codec is None:
            return frame
        buffer = io.BytesIO()
        self.codec.encode(buffer, frame)
        return buffer.getvalue()

    def send(self, message: Any, stream: int) -> None:
        self.sock.sendall(self.wrap(self.encode(message, stream)))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    # --- receiving -----------------------------------------------------------------------

    def receive(self, result_metadata: Any = None) -> tuple[int, Any]:
        """(stream, decoded message) of the next answer."""
        version, flags, stream, opcode, body = self.receive_frame()
        message = ProtocolHandler.decode_message(
            version & 0x7F, {}, stream, flags, opcode, body, self._decompress, result_metadata
        )
        if isinstance(message, ReadyMessage):
            self._ready = True
        return stream, message

    def receive_frame(self) -> tuple[int, int, int, int, bytes]:
        if self.codec is None:
            return read_plain_frame(self.sock)
        while (
            len(self._frames) < _HEADER.size
            or len(self._frames) < _HEADER.size + (_HEADER.unpack_from(self._frames)[4])
        ):
            self._frames += self._next_segment_payload()
        version, flags, stream, opcode, length = _HEADER.unpack_from(self._frames)
        end = _HEADER.size + length
        body, self._frames = self._frames[_HEADER.size : end], self._frames[end:]
        return version, flags, stream, opcode, body

    def _next_segment_payload(self) -> bytes:
        assert self.codec is not None
        head = read_exact(self.sock, self.codec.header_length_with_crc)
        header = self.codec.decode_header(io.BytesIO(head))
        # (the driver's own segment_length undercounts a compressed-codec segment sent
        # uncompressed, so the length is taken from the header fields)
        rest = read_exact(self.sock, header.payload_length + 4)
        payload: bytes = self.codec.decode(io.BytesIO(rest), header).payload
        return payload

    def closed(self) -> bool:
        """True once the server has closed the connection (waits up to the socket timeout)."""
        try:
            return self.sock.recv(1) == b""
        except (ConnectionError, TimeoutError):
            return True
