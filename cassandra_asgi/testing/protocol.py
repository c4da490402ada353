"""CQL native protocol v3/v4 framing: reading request bodies, writing responses and errors.

Only the wire format lives here; what a request *means* is decided in ``engine.py``.
Errors are raised as :class:`CQLError` anywhere in the server and encoded once, here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

__all__ = [
    "HEADER",
    "MAX_BODY_LENGTH",
    "OPCODE_NAMES",
    "SUPPORTED_VERSIONS",
    "AlreadyExists",
    "BadCredentials",
    "BodyReader",
    "CQLError",
    "ConfigurationProblem",
    "Invalid",
    "Opcode",
    "ProtocolViolation",
    "QueryParameters",
    "ServerFailure",
    "SyntaxProblem",
    "Unprepared",
    "encode_frame",
    "string",
    "string_map",
    "value_bytes",
]

#: version, flags, stream, opcode, body length (v3+ header; v1/v2 are not served)
HEADER = struct.Struct(">BBhBi")
SUPPORTED_VERSIONS = (3, 4)
MAX_BODY_LENGTH = 256 * 1024 * 1024
RESPONSE_FLAG = 0x80


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

_SHORT = struct.Struct(">H")
_INT = struct.Struct(">i")
_LONG = struct.Struct(">q")


def string(text: str) -> bytes:
    data = text.encode("utf-8")
    return _SHORT.pack(len(data)) + data


def long_string(text: str) -> bytes:
    data = text.encode("utf-8")
    return _INT.pack(len(data)) + data


def short_bytes(data: bytes) -> bytes:
    return _SHORT.pack(len(data)) + data


def value_bytes(data: bytes | None) -> bytes:
    if data is None:
        return b"\xff\xff\xff\xff"
    return _INT.pack(len(data)) + data


def string_list(items: list[str]) -> bytes:
    return _SHORT.pack(len(items)) + b"".join(string(item) for item in items)


def string_map(mapping: dict[str, str]) -> bytes:
    return _SHORT.pack(len(mapping)) + b"".join(string(k) + string(v) for k, v in mapping.items())


def string_multimap(mapping: dict[str, list[str]]) -> bytes:
    return _SHORT.pack(len(mapping)) + b"".join(
        string(k) + string_list(v) for k, v in mapping.items()
    )


def encode_frame(version: int, stream: int, opcode: int, body: bytes) -> bytes:
    return HEADER.pack(version | RESPONSE_FLAG, 0, stream, opcode, len(body)) + body


class CQLError(Exception):
    """An error the server answers with an ERROR frame (the code follows the protocol spec)."""

    code = 0x0000

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def extra(self) -> bytes:
        return b""

    def encode_body(self) -> bytes:
        return _INT.pack(self.code) + string(self.message) + self.extra()


class ServerFailure(CQLError):
    code = 0x0000


class ProtocolViolation(CQLError):
    """The peer broke the framing rules: answered, then its connection is closed."""

    code = 0x000A


class BadCredentials(CQLError):
    code = 0x0100


class SyntaxProblem(CQLError):
    code = 0x2000


class Unauthorized(CQLError):
    code = 0x2100


class Invalid(CQLError):
    code = 0x2200


class ConfigurationProblem(CQLError):
    """Bad replication or table settings (Cassandra's ConfigurationException)."""

    code = 0x2300


class AlreadyExists(CQLError):
    code = 0x2400

    def __init__(self, keyspace: str, table: str) -> None:
        what = f"table {keyspace}.{table}" if table else f"keyspace {keyspace}"
        super().__init__(f"Cannot add already existing {what}")
        self.keyspace = keyspace
        self.table = table

    def extra(self) -> bytes:
        return string(self.keyspace) + string(self.table)


class Unprepared(CQLError):
    code = 0x2500

    def __init__(self, statement_id: bytes) -> None:
        super().__init__(f"Prepared query with ID {statement_id.hex()} not found")
        self.statement_id = statement_id

    def extra(self) -> bytes:
        return short_bytes(self.statement_id)


class InjectedError(CQLError):
    """A failure requested through the fault-injection API, with its extra fields."""

    def __init__(self, code: int, message: str, extra: bytes) -> None:
        super().__init__(message)
        self.code = code
        self._extra = extra

    def extra(self) -> bytes:
        return self._extra


class BodyReader:
    """Sequential reads of protocol notations; any overrun is a ProtocolViolation."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, size: int) -> bytes:
        end = self.pos + size
        if size < 0 or end > len(self.data):
            raise ProtocolViolation("message body is truncated or has an invalid length field")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def u8(self) -> int:
        value: int = self._take(1)[0]
        return value

    def u16(self) -> int:
        value: int = _SHORT.unpack(self._take(2))[0]
        return value

    def i32(self) -> int:
        value: int = _INT.unpack(self._take(4))[0]
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
        return self._take(self.u16())

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


def read_query_parameters(reader: BodyReader) -> QueryParameters:
    params = QueryParameters(consistency=reader.u16())
    flags = reader.u8()
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
    return params
