"""CQL native protocol framing: frame headers, opcodes, reading request bodies.

Only the wire format lives here; what a request *means* is decided in ``execution``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import ProtocolViolation
from .notations import _INT, _LONG, _SHORT

__all__ = [
    "COMPRESSED_FLAG",
    "HEADER",
    "MAX_BODY_LENGTH",
    "OPCODE_NAMES",
    "RESPONSE_FLAG",
    "SUPPORTED_VERSIONS",
    "UNSET",
    "BodyReader",
    "Opcode",
    "QueryParameters",
    "Unset",
    "encode_compressed_frame",
    "encode_frame",
    "read_query_parameters",
]

#: version, flags, stream, opcode, body length (v3+ header; v1/v2 are not served)
HEADER = struct.Struct(">BBhBi")
#: the v1/v2 header (one-byte stream), only to answer such a client in its own version
LEGACY_HEADER = struct.Struct(">BBbBi")
SUPPORTED_VERSIONS = (3, 4, 5)
MAX_BODY_LENGTH = 256 * 1024 * 1024
RESPONSE_FLAG = 0x80
COMPRESSED_FLAG = 0x01


class Opcode:
    ERROR = 0x00
    STARTUP = 0x01
    READY = 0x02
    AUTHENTICATE = 0x03
    OPTIONS = 0x05
    SUPPORTED = 0x06
    QUERY = 0x07
    RESULT = 0x08
    PREPARE = 0x09
    EXECUTE = 0x0A
    REGISTER = 0x0B
    EVENT = 0x0C
    BATCH = 0x0D
    AUTH_CHALLENGE = 0x0E
    AUTH_RESPONSE = 0x0F
    AUTH_SUCCESS = 0x10


OPCODE_NAMES = {value: name for name, value in vars(Opcode).items() if not name.startswith("_")}


def encode_frame(version: int, stream: int, opcode: int, body: bytes, flags: int = 0) -> bytes:
    if version < 3:
        return LEGACY_HEADER.pack(version | RESPONSE_FLAG, 0, 0, opcode, len(body)) + body
    return HEADER.pack(version | RESPONSE_FLAG, flags, stream, opcode, len(body)) + body


def encode_compressed_frame(
    version: int,
    stream: int,
    opcode: int,
    body: bytes,
    compress: Callable[[bytes], bytes],
    flags: int = 0,
) -> bytes:
    """A v3/v4 frame whose body is compressed (empty bodies are sent as they are)."""
    if not body:
        return HEADER.pack(version | RESPONSE_FLAG, flags, stream, opcode, 0)
    data = compress(body)
    flags |= COMPRESSED_FLAG
    return HEADER.pack(version | RESPONSE_FLAG, flags, stream, opcode, len(data)) + data


def _truncated() -> ProtocolViolation:
    return ProtocolViolation("message body is truncated or has an invalid length field")


class BodyReader:
    """Sequential reads of protocol notations; any overrun is a ProtocolViolation."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, size: int) -> bytes:
        end = self.pos + size
        if size < 0 or end > len(self.data):
            raise _truncated()
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    # The fixed-size reads below skip _take's intermediate slice: they run several times for
    # every request, and unpack_from reads in place (raising struct.error on an overrun).

    def u8(self) -> int:
        pos = self.pos
        if pos >= len(self.data):
            raise _truncated()
        self.pos = pos + 1
        return self.data[pos]

    def u16(self) -> int:
        try:
            value: int = _SHORT.unpack_from(self.data, self.pos)[0]
        except struct.error:
            raise _truncated() from None
        self.pos += 2
        return value

    def i32(self) -> int:
        try:
            value: int = _INT.unpack_from(self.data, self.pos)[0]
        except struct.error:
            raise _truncated() from None
        self.pos += 4
        return value

    def i64(self) -> int:
        value: int = _LONG.unpack(self._take(8))[0]
        return value

    def string(self) -> str:
        return self._decode(self._take(self.u16()))

    def long_string(self) -> str:
        length = self.i32()
        if length < 0:
            raise ProtocolViolation("negative [long string] length")
        return self._decode(self._take(length))

    def short_bytes(self) -> bytes:
        # in one step: an EXECUTE starts with one (two at v5, with the result metadata id)
        data, pos = self.data, self.pos
        try:
            end = pos + 2 + _SHORT.unpack_from(data, pos)[0]
        except struct.error:
            raise _truncated() from None
        if end > len(data):
            raise _truncated()
        self.pos = end
        return data[pos + 2 : end]

    def blob(self) -> bytes | None:
        length = self.i32()
        if length < 0:
            return None
        return self._take(length)

    def value(self) -> bytes | Unset | None:
        length = self.i32()
        if length == -2:
            return UNSET
        if length < 0:
            return None
        return self._take(length)

    def string_list(self) -> list[str]:
        return [self.string() for _ in range(self.u16())]

    def string_map(self) -> dict[str, str]:
        return {self.string(): self.string() for _ in range(self.u16())}

    def at_end(self) -> bool:
        return self.pos == len(self.data)

    @staticmethod
    def _decode(raw: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolViolation("string is not valid UTF-8") from None


class Unset:
    """The protocol's "unset" value (-2 length): leave the column untouched."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSET"


UNSET = Unset()


@dataclass(slots=True)
class QueryParameters:
    consistency: int = 1
    values: list[bytes | Unset | None] = field(default_factory=list)
    names: list[str] | None = None
    skip_metadata: bool = False
    page_size: int = -1
    paging_state: bytes | None = None
    serial_consistency: int | None = None
    timestamp: int | None = None
    #: v5: the keyspace the statement runs in instead of the connection's
    keyspace: str | None = None
    #: v5: "now" for TTL evaluation, in seconds since the epoch
    now_in_seconds: int | None = None
    #: v5 EXECUTE: the id of the result metadata the client holds
    result_metadata_id: bytes | None = None


def read_query_parameters(reader: BodyReader, version: int = 4) -> QueryParameters:
    """``<consistency><flags>...``: flags are a [byte] up to v4 and an [int] from v5 on."""
    params = QueryParameters(consistency=reader.u16())
    flags = reader.u8() if version < 5 else reader.i32()
    if flags & 0x01:
        count = reader.u16()
        if flags & 0x40:
            names: list[str] = []
            values: list[bytes | Unset | None] = []
            for _ in range(count):
                names.append(reader.string())
                values.append(reader.value())
            params.names = names
            params.values = values
        else:
            params.values = [reader.value() for _ in range(count)]
    params.skip_metadata = bool(flags & 0x02)
    if flags & 0x04:
        params.page_size = reader.i32()
    if flags & 0x08:
        params.paging_state = reader.blob()
    if flags & 0x10:
        params.serial_consistency = reader.u16()
    if flags & 0x20:
        params.timestamp = reader.i64()
    if flags & 0x180 and version >= 5:
        if flags & 0x80:
            params.keyspace = reader.string()
        if flags & 0x100:
            params.now_in_seconds = reader.i32()
    return params
