"""The errors a node answers with: each becomes an ERROR frame with its code from the protocol spec.

They are raised anywhere in the server (parser, planner, engine, node) and encoded once, here.
"""

from __future__ import annotations

from .wire.notations import _INT, _SHORT, short_bytes, string

__all__ = [
    "AlreadyExists",
    "BadCredentials",
    "CQLError",
    "ConfigurationProblem",
    "InjectedError",
    "Invalid",
    "ProtocolViolation",
    "ReadTimeout",
    "ServerFailure",
    "SyntaxProblem",
    "Unauthorized",
    "Unavailable",
    "Unprepared",
    "WriteTimeout",
]


class CQLError(Exception):
    """An error the server answers with an ERROR frame (the code follows the protocol spec)."""

    code = 0x0000
    #: seconds the node waits before answering with this error (a coordinator timing out)
    delay = 0.0

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


class Unavailable(CQLError):
    """Too few live replicas for the consistency level: refused before anything ran."""

    code = 0x1000

    def __init__(self, message: str, consistency: int, required: int, alive: int) -> None:
        super().__init__(message)
        self.consistency = consistency
        self.required = required
        self.alive = alive

    def extra(self) -> bytes:
        return _SHORT.pack(self.consistency) + _INT.pack(self.required) + _INT.pack(self.alive)


class WriteTimeout(CQLError):
    """A replica the coordinator believed alive never acknowledged the write."""

    code = 0x1100

    def __init__(
        self, consistency: int, received: int, block_for: int, write_type: str, delay: float
    ) -> None:
        super().__init__(
            "Operation timed out - received only "
            f"{received} responses. (write type {write_type}, {block_for} required)"
        )
        self.consistency = consistency
        self.received = received
        self.block_for = block_for
        self.write_type = write_type
        self.delay = delay

    def extra(self) -> bytes:
        return (
            _SHORT.pack(self.consistency)
            + _INT.pack(self.received)
            + _INT.pack(self.block_for)
            + string(self.write_type)
        )


class ReadTimeout(CQLError):
    """A replica the coordinator believed alive never answered the read."""

    code = 0x1200

    def __init__(self, consistency: int, received: int, block_for: int, delay: float) -> None:
        super().__init__(f"Operation timed out - received only {received} responses.")
        self.consistency = consistency
        self.received = received
        self.block_for = block_for
        self.delay = delay

    def extra(self) -> bytes:
        data_present = b"\x01" if self.received > 0 else b"\x00"
        return (
            _SHORT.pack(self.consistency)
            + _INT.pack(self.received)
            + _INT.pack(self.block_for)
            + data_present
        )
