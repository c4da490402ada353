"""The asyncio CQL server: connections, request dispatch, lifecycle and fault injection.

Each connection parses frames as they arrive and answers each stream on its own, so a slow
(latency-injected) request never holds back the others; replies may leave out of order,
exactly as the protocol allows. Negotiation follows Cassandra 4.1: OPTIONS and STARTUP travel
as plain frames, and a v5 connection switches to CRC-protected segments right after the
answer to its STARTUP. A test/demo server, never a database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from ..errors import BadCredentials, CQLError, ProtocolViolation, ServerFailure
from ..execution.engine import Engine, SessionState
from ..execution.system import CQL_VERSION
from ..wire.compression import FrameCompressor, available_compressions, frame_compressor
from ..wire.frames import (
    COMPRESSED_FLAG,
    HEADER,
    MAX_BODY_LENGTH,
    OPCODE_NAMES,
    SUPPORTED_VERSIONS,
    BodyReader,
    Opcode,
    QueryParameters,
    encode_compressed_frame,
    encode_frame,
    read_query_parameters,
)
from ..wire.notations import string, value_bytes
from ..wire.notations import string_multimap as _string_multimap
from ..wire.segments import SegmentCodec
from .faults import FAULT_ERRORS, FaultRules, Outcome, Rule, build_error, compile_pattern

__all__ = ["CQLServer", "ConnectionInfo", "run_on_loop", "serve_in_thread", "stop_thread"]

log = logging.getLogger("cassandra_asgi.testing")

_AUTHENTICATOR = "org.apache.cassandra.auth.PasswordAuthenticator"
_HEADER_SIZE = HEADER.size
_QUERY_OPS = (Opcode.QUERY, Opcode.PREPARE, Opcode.EXECUTE, Opcode.BATCH)
_TRACING_FLAG = 0x02
_BEFORE_STARTUP = (Opcode.OPTIONS, Opcode.STARTUP)
_BATCH_KEYSPACE = 0x80
_BATCH_NOW_IN_SECONDS = 0x100
_PREPARE_KEYSPACE = 0x01


def version_list(versions: Iterable[int]) -> list[str]:
    """Versions as Cassandra spells them in SUPPORTED and in its errors: ``5/v5``."""
    return [f"{version}/v{version}" for version in sorted(versions)]


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """The server's view of one client connection (what was negotiated, what crossed it)."""

    protocol_version: int
    compression: str | None
    #: v5 segment framing in use
    segments: bool
    bytes_received: int
    bytes_sent: int


class _Connection(asyncio.Protocol):
    """One client connection. Runs on the server's loop only."""

    def __init__(self, server: CQLServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.version = 0
        self.started = False
        self.authenticated = server.username is None
        self.session = SessionState()
        self.events: set[str] = set()
        self.out: list[bytes] = []
        self.closing = False
        #: v5 framing, once the STARTUP answer is out; None while frames are plain
        self.segments: SegmentCodec | None = None
        self._segments_next: SegmentCodec | None = None
        #: v3/v4 body compression, once STARTUP chose it
        self.compressor: FrameCompressor | None = None
        self.compression: str | None = None
        self.bytes_received = 0
        self.bytes_sent = 0
        #: the end of a write held back by ``CQLServer.hold_back_tails``, and what followed it
        self._late_tail: bytearray | None = None

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if peer:
            self.session.client = str(peer[0])
        self.server._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server._connections.discard(self)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.bytes_received += len(data)
        try:
            if self.segments is None:
                self._read_frames(data)
            else:
                self._read_segments(data)
        except ProtocolViolation as error:  # a corrupt segment: the stream is out of sync
            self._fatal(0, error)
        except Exception:  # the server must survive anything a client sends
            log.exception("unexpected error while reading a frame; closing the connection")
            self._fatal(0, ServerFailure("internal error while reading the request"))
        self.flush()

    # framing
    def _read_frames(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while buffer and not self.closing:
            if not self.version and not self._version_ok(buffer[0]):
                return
            if len(buffer) < _HEADER_SIZE:
                return
            version, flags, stream, opcode, length = HEADER.unpack_from(buffer, 0)
            if not self._header_ok(version, flags, stream, length):
                return
            end = _HEADER_SIZE + length
            if len(buffer) < end:
                return
            body = bytes(buffer[_HEADER_SIZE:end])
            del buffer[:end]
            if flags & COMPRESSED_FLAG and self.compressor is not None:
                body = self.compressor.decompress(body)
            self._request(stream, opcode, body, flags)
            if self.segments is not None and buffer:  # a v5 STARTUP was answered
                rest = bytes(buffer)
                buffer.clear()
                self._read_segments(rest)
                return

    def _read_segments(self, data: bytes) -> None:
        assert self.segments is not None
        for version, flags, stream, opcode, body in self.segments.feed(data):
            if version & 0x80:
                self._fatal(
                    stream,
                    ProtocolViolation("Invalid message: the response flag is set on a request"),
                )
            elif version != self.version:
                self._fatal(stream, self._version_changed(version))
            else:
                self._request(stream, opcode, body, flags)
            if self.closing:
                return

    def _version_ok(self, first_byte: int) -> bool:
        """Cassandra checks the version before anything else, even before a whole header."""
        if first_byte & 0x80:
            return True  # reported by _header_ok with the stream id
        version = first_byte & 0x7F
        allowed = self.server.protocol_versions
        if version in allowed:
            return True
        # An old version (1, 2) is answered in its own version; anything else (a DSE 65/66,
        # a beta 6) in the highest one served. Like Cassandra 4.1, on stream 0.
        self._fatal(
            0,
            ProtocolViolation(
                f"Invalid or unsupported protocol version ({version}); supported versions are "
                f"({', '.join(version_list(allowed))})"
            ),
            version=version if version in (1, 2) else max(allowed),
        )
        return False

    def _version_changed(self, version: int) -> ProtocolViolation:
        return ProtocolViolation(
            f"Invalid message version. Got {version} but previous messages on this "
            f"connection had version {self.version}"
        )

    def _header_ok(self, version: int, flags: int, stream: int, length: int) -> bool:
        if version & 0x80:
            self._fatal(
                stream, ProtocolViolation("Invalid message: the response flag is set on a request")
            )
            return False
        if self.version and version != self.version:
            self._fatal(stream, self._version_changed(version))
            return False
        if length < 0 or length > MAX_BODY_LENGTH:
            self._fatal(stream, ProtocolViolation(f"Invalid frame body length {length}"))
            return False
        if flags & COMPRESSED_FLAG and self.compressor is None:
            self._fatal(stream, ProtocolViolation("Compression was not negotiated"))
            return False
        self.version = version
        return True

    def _fatal(self, stream: int, error: CQLError, version: int | None = None) -> None:
        """Answer a broken frame with an error, then close: the stream is out of sync."""
        body = error.encode_body()
        if version is not None:  # version negotiation: always a plain frame
            self._write_plain([encode_frame(version, stream, Opcode.ERROR, body)])
        else:
            self.out.append(self._frame(stream, Opcode.ERROR, body))
        self.closing = True
        self.buffer.clear()

    def _frame(self, stream: int, opcode: int, body: bytes, flags: int = 0) -> bytes:
        compressor = self.compressor
        if compressor is not None:
            return encode_compressed_frame(
                self.version, stream, opcode, body, compressor.compress, flags
            )
        version = self.version or max(self.server.protocol_versions)
        return encode_frame(version, stream, opcode, body, flags)

    def _write(self, frames: list[bytes]) -> None:
        """Frames to the socket: packed into segments on a v5 connection, else as they are."""
        segments = self.segments
        if segments is None:
            self._write_plain(frames)
            return
        transport = self.transport
        if transport is not None and not transport.is_closing():
            self._transmit(transport, segments.encode(frames))

    def _write_plain(self, frames: list[bytes]) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            self._transmit(transport, b"".join(frames) if len(frames) > 1 else frames[0])

    def _transmit(self, transport: asyncio.Transport, data: bytes) -> None:
        self.bytes_sent += len(data)
        if self._late_tail is not None:  # bytes are held back: these go after them
            self._late_tail += data
            return
        held_back = self.server._held_back
        if held_back is None or len(data) <= held_back[0]:
            transport.write(data)
            return
        count, seconds = held_back
        transport.write(data[:-count])
        self._late_tail = bytearray(data[-count:])
        asyncio.get_running_loop().call_later(seconds, self._send_late_tail)

    def _send_late_tail(self) -> None:
        tail, self._late_tail = self._late_tail, None
        transport = self.transport
        if tail and transport is not None and not transport.is_closing():
            transport.write(bytes(tail))

    def flush(self) -> None:
        if self.out:
            self._write(self.out)
            self.out.clear()
        transport = self.transport
        if self.closing and transport is not None:
            transport.close()

    def send(self, stream: int, opcode: int, body: bytes) -> None:
        """Write a late reply (after injected latency) straight to the socket."""
        if not self.server._silent:
            self._write([self._frame(stream, opcode, body)])

    # requests
    def _request(self, stream: int, opcode: int, body: bytes, flags: int = 0) -> None:
        server = self.server
        if server._silent:
            return
        name = OPCODE_NAMES.get(opcode, f"0x{opcode:02X}")
        counts = server._counts
        counts[name] = counts.get(name, 0) + 1
        if opcode in _QUERY_OPS and server._faults.rules:
            outcome = self._fault_outcome(opcode, body)
            if outcome is not None:
                self._faulted(stream, opcode, body, outcome, flags)
                return
        frame = self._answer(stream, opcode, body, flags)
        if frame is not None:
            self.out.append(frame)
        if self._segments_next is not None:
            # Cassandra answers STARTUP in the old framing, then switches the connection
            self.flush()
            self.segments, self._segments_next = self._segments_next, None

    def _answer(self, stream: int, opcode: int, body: bytes, flags: int = 0) -> bytes | None:
        """The reply frame, or None when it is sent later (an error with a delay)."""
        # the request's tracing flag; the reply carries the trace id and client warnings
        self.session.begin_request(bool(flags & _TRACING_FLAG))
        try:
            reply_op, reply = self._dispatch(opcode, body)
        except ProtocolViolation as error:
            self.closing = True
            return self._frame(stream, Opcode.ERROR, error.encode_body())
        except CQLError as error:
            if error.delay > 0:
                asyncio.get_running_loop().call_later(
                    error.delay, self.send, stream, Opcode.ERROR, error.encode_body()
                )
                return None
            return self._frame(stream, Opcode.ERROR, error.encode_body())
        except Exception as exc:
            log.exception("internal error answering %s", OPCODE_NAMES.get(opcode, opcode))
            failure = ServerFailure(
                f"internal error in the in-memory server: {type(exc).__name__}: {exc}"
            )
            return self._frame(stream, Opcode.ERROR, failure.encode_body())
        reply_flags, reply = self.session.response_envelope(reply, self.version)
        return self._frame(stream, reply_op, reply, reply_flags)

    def _fault_outcome(self, opcode: int, body: bytes) -> Outcome | None:
        try:
            texts = self._texts(opcode, body)
        except Exception:
            return None
        return self.server._faults.evaluate(texts)

    def _texts(self, opcode: int, body: bytes) -> tuple[str, ...]:
        reader = BodyReader(body)
        if opcode in (Opcode.QUERY, Opcode.PREPARE):
            return (reader.long_string(),)
        engine = self.server._engine
        if opcode == Opcode.EXECUTE:
            text = engine.statement_text(reader.short_bytes())
            return (text,) if text is not None else ()
        reader.u8()
        texts = []
        for _ in range(reader.u16()):
            kind = reader.u8()
            if kind == 0:
                texts.append(reader.long_string())
            else:
                found = engine.statement_text(reader.short_bytes())
                if found is not None:
                    texts.append(found)
            for _ in range(reader.u16()):
                reader.value()
        return tuple(texts)

    def _faulted(
        self, stream: int, opcode: int, body: bytes, outcome: Outcome, flags: int = 0
    ) -> None:
        if outcome.blackhole:
            return
        rule = outcome.error

        def reply() -> None:
            if rule is not None:
                consistency = _consistency_of(opcode, body, self.version)
                error = build_error(
                    rule.error, consistency, rule.message, self.version, self.server.node_address
                )
                self.send(stream, Opcode.ERROR, error.encode_body())
                return
            frame = self._answer(stream, opcode, body, flags)
            if frame is not None and not self.server._silent:
                self._write([frame])
            transport = self.transport
            if self.closing and transport is not None:
                transport.close()

        if outcome.latency > 0:
            asyncio.get_running_loop().call_later(outcome.latency, reply)
        else:
            reply()

    def _in_keyspace(self, keyspace: str | None, run: Callable[[SessionState], bytes]) -> bytes:
        """v5's per-query keyspace: the statement runs there, the connection's USE stays.

        The connection's own session runs it (its tracing and warnings belong to this
        request), with the keyspace swapped in for the call; a USE inside it still counts.
        """
        session = self.session
        if keyspace is None:
            return run(session)
        saved, session.keyspace = session.keyspace, keyspace
        try:
            return run(session)
        finally:
            if session.keyspace == keyspace:
                session.keyspace = saved

    def _dispatch(self, opcode: int, body: bytes) -> tuple[int, bytes]:
        reader = BodyReader(body)
        engine = self.server._engine
        if not self.started and opcode not in _BEFORE_STARTUP:
            name = OPCODE_NAMES.get(opcode, f"0x{opcode:02X}")
            raise ProtocolViolation(f"Unexpected message {name}, expecting STARTUP or OPTIONS")
        if opcode == Opcode.EXECUTE or opcode == Opcode.QUERY:
            self._require_authenticated()
            if opcode == Opcode.EXECUTE:
                statement_id = reader.short_bytes()
                metadata_id = reader.short_bytes() if self.version >= 5 else None
                params = read_query_parameters(reader, self.version)
                params.result_metadata_id = metadata_id
                return Opcode.RESULT, engine.execute(statement_id, params, self.session)
            text = reader.long_string()
            params = read_query_parameters(reader, self.version)
            answer = self._in_keyspace(
                params.keyspace, lambda session: engine.query(text, params, session)
            )
            return Opcode.RESULT, answer
        if opcode == Opcode.PREPARE:
            self._require_authenticated()
            text = reader.long_string()
            keyspace = None
            if self.version >= 5 and reader.i32() & _PREPARE_KEYSPACE:
                keyspace = reader.string()
            answer = self._in_keyspace(
                keyspace, lambda session: engine.prepare(text, session, self.version)
            )
            return Opcode.RESULT, answer
        if opcode == Opcode.BATCH:
            self._require_authenticated()
            return Opcode.RESULT, self._batch(reader)
        if opcode == Opcode.OPTIONS:
            return Opcode.SUPPORTED, _string_multimap(self.server.supported_options())
        if opcode == Opcode.STARTUP:
            return self._startup(reader.string_map())
        if opcode == Opcode.AUTH_RESPONSE:
            token = reader.blob() or b""
            if self._credentials_ok(token):
                self.authenticated = True
                return Opcode.AUTH_SUCCESS, value_bytes(None)
            user = (
                token.split(b"\x00")[1].decode("utf-8", "replace")
                if token.count(b"\x00") >= 2
                else "?"
            )
            raise BadCredentials(f"Provided username {user} and/or password are incorrect")
        if opcode == Opcode.REGISTER:
            self._require_authenticated()
            self.events.update(reader.string_list())
            return Opcode.READY, b""
        raise ProtocolViolation(f"Unknown or unexpected opcode 0x{opcode:02X} in a request")

    def _startup(self, options: dict[str, str]) -> tuple[int, bytes]:
        if "CQL_VERSION" not in options:
            raise ProtocolViolation("Missing value CQL_VERSION in STARTUP message")
        if not self.started:  # a repeated STARTUP keeps the framing and compression chosen
            requested = options.get("COMPRESSION")
            self.compressor = frame_compressor(requested, self.version)
            self.compression = requested.lower() if requested else None
            if self.version >= 5:
                self._segments_next = SegmentCodec(
                    compressed=self.compression == "lz4", max_envelope=MAX_BODY_LENGTH
                )
        self.started = True
        if self.authenticated:
            return Opcode.READY, b""
        return Opcode.AUTHENTICATE, string(_AUTHENTICATOR)

    def _require_authenticated(self) -> None:
        if not self.authenticated:
            raise ProtocolViolation(
                "Unexpected message before authentication completed, expecting AUTH_RESPONSE"
            )

    def _credentials_ok(self, token: bytes) -> bool:
        parts = token.split(b"\x00")
        if len(parts) != 3:
            return False
        server = self.server
        assert server.username is not None
        assert server.password is not None
        return parts[1] == server.username.encode("utf-8") and parts[2] == server.password.encode(
            "utf-8"
        )

    def _batch(self, reader: BodyReader) -> bytes:
        batch_type = reader.u8()
        if batch_type > 2:
            raise ProtocolViolation(f"Invalid BATCH type {batch_type}")
        members: list[tuple[str | bytes, list[Any]]] = []
        for _ in range(reader.u16()):
            kind = reader.u8()
            target: str | bytes
            if kind == 0:
                target = reader.long_string()
            elif kind == 1:
                target = reader.short_bytes()
            else:
                raise ProtocolViolation(
                    f"Invalid query kind in BATCH messages. Must be 0 or 1 but got {kind}"
                )
            values = [reader.value() for _ in range(reader.u16())]
            members.append((target, values))
        params = QueryParameters(consistency=reader.u16())
        flags = reader.u8() if self.version < 5 else reader.i32()
        if flags & 0x10:
            params.serial_consistency = reader.u16()
        if flags & 0x20:
            params.timestamp = reader.i64()
        keyspace = None
        if self.version >= 5:
            if flags & _BATCH_KEYSPACE:
                keyspace = reader.string()
            if flags & _BATCH_NOW_IN_SECONDS:
                params.now_in_seconds = reader.i32()
        batch_kind = ("LOGGED", "UNLOGGED", "COUNTER")[batch_type]
        engine = self.server._engine
        return self._in_keyspace(
            keyspace, lambda session: engine.batch(members, session, batch_kind, params)
        )

    def push_event(self, kind: str, body: bytes) -> None:
        """Send an event (``kind``: SCHEMA_CHANGE, STATUS_CHANGE...) if it was registered for."""
        transport = self.transport
        if transport is not None and not transport.is_closing() and kind in self.events:
            self._write([self._frame(-1, Opcode.EVENT, string(kind) + body)])

    def info(self) -> ConnectionInfo:
        return ConnectionInfo(
            self.version,
            self.compression,
            self.segments is not None,
            self.bytes_received,
            self.bytes_sent,
        )


def _consistency_of(opcode: int, body: bytes, version: int) -> int:
    """The consistency level a request asked for (reported back in injected errors)."""
    try:
        reader = BodyReader(body)
        if opcode == Opcode.QUERY:
            reader.long_string()
            return reader.u16()
        if opcode == Opcode.EXECUTE:
            reader.short_bytes()
            if version >= 5:
                reader.short_bytes()
            return reader.u16()
    except CQLError:
        pass
    return 1  # ONE


def run_on_loop(
    loop: asyncio.AbstractEventLoop | None, action: Callable[[], None], what: str
) -> None:
    """Run ``action`` on ``loop``: at once on the loop's own thread, else wait (briefly) for it.

    Servers and clusters are driven from test code on another thread (``with``) or on their
    own loop (``async with``); their state is only ever touched on the loop.
    """
    if loop is None:
        raise RuntimeError(f"{what} is not running")
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        action()
        return
    done = threading.Event()
    errors: list[BaseException] = []

    def wrapped() -> None:
        try:
            action()
        except BaseException as exc:  # reported to the caller below
            errors.append(exc)
        finally:
            done.set()

    loop.call_soon_threadsafe(wrapped)
    if not done.wait(5):
        raise TimeoutError(f"the {what} loop did not respond within 5 s")
    if errors:
        raise errors[0]


def serve_in_thread(
    opening: Coroutine[Any, Any, None], name: str
) -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
    """A new event loop on a daemon thread: runs ``opening``, then forever. Returns once
    ``opening`` is done, and raises what it raised."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(opening)
        except BaseException as exc:
            failure.append(exc)
            ready.set()
            loop.close()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    ready.wait(10)
    if failure:
        thread.join(5)
        raise failure[0]
    return loop, thread


def stop_thread(
    loop: asyncio.AbstractEventLoop,
    thread: threading.Thread,
    closing: Callable[[], None],
    what: str,
) -> None:
    """Run ``closing`` on a ``serve_in_thread`` loop, stop the loop and wait for its thread."""
    if thread is threading.current_thread():
        raise RuntimeError(f"stop() cannot be called from the {what}'s own thread")

    def shutdown() -> None:
        closing()
        loop.stop()

    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(shutdown)
    thread.join(10)


class CQLServer:
    """In-memory CQL native-protocol server for tests and demos (never a database).

    ``with CQLServer() as srv`` runs it on a background thread with its own loop;
    ``async with CQLServer() as srv`` runs it on the current loop. Data is kept across
    ``go_down()``/``come_up()`` and across ``stop()``/``start()``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        username: str | None = None,
        password: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        protocol_versions: Iterable[int] = SUPPORTED_VERSIONS,
    ) -> None:
        if (username is None) != (password is None):
            raise ValueError("username and password must be given together")
        versions = tuple(sorted(set(protocol_versions)))
        unknown = [v for v in versions if v not in SUPPORTED_VERSIONS]
        if not versions or unknown:
            raise ValueError(
                f"protocol_versions must be a non-empty subset of {SUPPORTED_VERSIONS}, "
                f"got {tuple(protocol_versions)!r}"
            )
        #: the native protocol versions this node accepts (Cassandra 4.1: 3, 4 and 5)
        self.protocol_versions = versions
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.ssl_context = ssl_context
        advertised = "127.0.0.1" if host in ("", "0.0.0.0", "::", "localhost") else host
        self._engine = Engine(advertised)
        self._engine.schema_listeners.append(self._push_schema_event)
        self._faults = FaultRules()
        self._counts: dict[str, int] = {}
        self._connections: set[_Connection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._pending_listen: asyncio.Task[None] | None = None
        self._down = False
        #: cut off (a cluster node's partition): requests are read and never answered
        self._silent = False
        #: (bytes, seconds): the end of every write sent that much later (``hold_back_tails``)
        self._held_back: tuple[int, float] | None = None

    # --- properties ----------------------------------------------------------------------

    @property
    def contact_point(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def node_address(self) -> str:
        """The address the node advertises (system.local, failure reason maps)."""
        return self._engine.system.address

    def supported_options(self) -> dict[str, list[str]]:
        """The SUPPORTED message: what OPTIONS is answered with."""
        return {
            "CQL_VERSION": [CQL_VERSION],
            "COMPRESSION": available_compressions(),
            "PROTOCOL_VERSIONS": version_list(self.protocol_versions),
        }

    def connections(self) -> list[ConnectionInfo]:
        """What each open client connection negotiated, and the bytes it moved so far."""
        for _ in range(100):
            try:  # the loop thread may add or drop a connection while we copy
                return [connection.info() for connection in list(self._connections)]
            except RuntimeError:
                continue
        return []

    @property
    def requests(self) -> dict[str, int]:
        """Requests seen so far by opcode name ("QUERY", "EXECUTE", ...), a snapshot copy."""
        for _ in range(100):
            try:  # the loop thread may add a key while we copy
                return dict(self._counts)
            except RuntimeError:
                continue
        return dict(self._counts)

    def reset_counters(self) -> None:
        self._counts = {}

    # --- lifecycle -----------------------------------------------------------------------

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(512)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        return sock

    async def _listen(self, sock: socket.socket) -> None:
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Connection(self), sock=sock, ssl=self.ssl_context
        )

    async def __aenter__(self) -> CQLServer:
        if self._loop is not None:
            raise RuntimeError("CQLServer is already running")
        self._loop = asyncio.get_running_loop()
        self._down = False
        await self._listen(self._bind())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close_now()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        self._server = None
        self._loop = None

    def __enter__(self) -> CQLServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Serve on a background thread (returns once listening)."""
        if self._loop is not None:
            raise RuntimeError("CQLServer is already running")
        sock = self._bind()
        self._down = False
        self._loop, self._thread = serve_in_thread(self._listen(sock), f"CQLServer:{self.port}")

    def stop(self) -> None:
        """Stop a background-thread server (data is kept for a later start())."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        stop_thread(loop, thread, self._close_now, "server")
        self._loop = None
        self._thread = None
        self._server = None

    def _close_now(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            if connection.transport is not None:
                connection.transport.abort()
        self._connections.clear()

    def _on_loop(self, action: Callable[[], None]) -> None:
        """Run ``action`` on the server loop; from another thread, wait (briefly) for it."""
        run_on_loop(self._loop, action, "CQLServer")

    # --- fault injection -----------------------------------------------------------------

    def add_latency(self, seconds: float, pattern: str | None = None) -> None:
        """Delay matching requests by ``seconds`` without delaying any other stream."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise ValueError(f"seconds must be a non-negative number, got {seconds!r}")
        self._faults.add(Rule("latency", compile_pattern(pattern), seconds=float(seconds)))

    def fail(self, error: str, pattern: str | None = None, message: str | None = None) -> None:
        """Answer matching requests with the given Cassandra error."""
        if error not in FAULT_ERRORS:
            raise ValueError(f"unknown error {error!r}; choose one of {sorted(FAULT_ERRORS)}")
        self._faults.add(Rule("fail", compile_pattern(pattern), error=error, message=message))

    def blackhole(self, pattern: str | None = None) -> None:
        """Accept matching requests and never answer them."""
        self._faults.add(Rule("blackhole", compile_pattern(pattern)))

    def hold_back_tails(self, count: int, seconds: float) -> None:
        """Send the last ``count`` bytes of every write ``seconds`` after the rest.

        A client then reads each reply in two parts, the first ending inside the reply's last
        bytes: the CRC of a v5 segment, or the body of a plain frame. ``clear_faults`` ends it.
        """
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive number of bytes, got {count!r}")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise ValueError(f"seconds must be a non-negative number, got {seconds!r}")
        self._held_back = (count, float(seconds))

    def clear_faults(self) -> None:
        self._faults.clear()
        self._held_back = None

    def drop_connections(self) -> None:
        """Close every client connection now (the server keeps listening)."""
        self._on_loop(self._abort_connections)

    def _abort_connections(self) -> None:
        for connection in list(self._connections):
            if connection.transport is not None:
                connection.transport.abort()

    def go_down(self) -> None:
        """Stop listening and drop every connection; data is kept for come_up()."""

        def down() -> None:
            if self._server is not None:
                self._server.close()
                self._server = None
            self._abort_connections()

        self._on_loop(down)
        self._down = True

    def come_up(self) -> None:
        """Listen again on the same port after go_down()."""
        if not self._down:
            return
        sock = self._bind()
        loop = self._loop
        if loop is None:
            sock.close()
            raise RuntimeError("CQLServer is not running")

        def up() -> None:
            # keep a reference: the loop only holds weak references to tasks
            self._pending_listen = loop.create_task(self._listen(sock))

        self._on_loop(up)
        self._down = False

    def _push_schema_event(self, body: bytes) -> None:
        self.push_event("SCHEMA_CHANGE", body)

    def push_event(self, kind: str, body: bytes) -> None:
        """Push an event to every connection registered for ``kind`` (on the server loop)."""
        if self._silent:
            return
        for connection in list(self._connections):
            connection.push_event(kind, body)

    def __repr__(self) -> str:
        state = "running" if self._loop is not None else "stopped"
        return f"<CQLServer {self.contact_point} {state}>"
