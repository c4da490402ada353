"""``io="loop"``: the driver's connections served by the session's own event loop.

With the driver's reactor, every reply is read on a thread of its own and handed to the loop
across threads, and that thread competes with the loop for the GIL. Here the loop reads the
sockets itself (``add_reader``), so replies complete their futures right where they are
awaited. Writes made on the loop are queued and sent once per loop iteration, so a burst of
requests costs one ``send``; writes from the driver's threads (control connection, heartbeats,
pool and reconnection work) hop onto the loop. Connecting stays where the driver does it, in
its own threads (a blocking connect and TLS handshake, then ``connected_event.wait``): only
the non-blocking part ever runs on the loop.

With protocol v5 every frame travels in a checksummed segment, and the driver wraps each
message in a segment of its own (two CRCs, one in pure Python, per request). Here the frames
queued in one loop iteration share segments of up to 128 KiB, as the protocol allows.

One connection class is made per session (``connection_class_for``): the driver reaches the
reactor through class methods (``create_timer``), so the loop has to live on the class.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

from cassandra.connection import Connection, ConnectionException, ConnectionShutdown
from cassandra.protocol import ProtocolHandler
from cassandra.segment import Segment

from . import _compat
from ._losses import ReportsLosses

__all__ = ["LoopConnection", "LoopTimer", "connection_class_for", "watch_loop"]

log = logging.getLogger("cassandra_asgi")

#: Bytes asked of the socket per ``recv_into``: replies of many requests at once.
_READ_CHUNK = 256 * 1024
#: Bytes one read callback may take from the socket, at most and at least. What is left stays
#: in the socket, which stays readable, for the next loop iteration. The least is about 16
#: one-row replies: handing one to the driver takes 60-130 us on a loaded 2-core machine.
_MAX_READ_PER_CALLBACK = 4 * _READ_CHUNK
_MIN_READ_PER_CALLBACK = 1024
#: Seconds one callback should spend handing replies to the driver, or failing the requests
#: of a lost connection. Small replies cost far more to parse per byte than large ones (a burst
#: of 1,000 one-row replies fits in 64 KiB), so the byte budget follows the time it took:
#: halved when over, doubled when well under. Several connections' callbacks can run in one
#: loop iteration, so this is a share of the stall, not all of it.
_HANDLING_BUDGET = 0.002
#: Largest payload of one v5 segment.
_SEGMENT_PAYLOAD = Segment.MAX_PAYLOAD_LENGTH
_RETRY_LATER = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


class LoopTimer:
    """A driver timer on ``loop.call_later``; armed and cancelled from any thread.

    Cancelled off the loop, it only marks itself: the handle is left to fire into nothing
    rather than touching the loop's heap from another thread.
    """

    __slots__ = ("_callback", "_handle", "_loop_thread", "cancelled")

    def __init__(self, callback: Callable[[], Any], loop_thread: int) -> None:
        self._callback = callback
        self._loop_thread = loop_thread
        self._handle: asyncio.TimerHandle | None = None
        self.cancelled = False

    def arm(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        if not self.cancelled:
            self._handle = loop.call_later(timeout, self._fire)

    def _fire(self) -> None:
        self._handle = None
        if not self.cancelled:
            self.cancelled = True
            self._callback()

    def cancel(self) -> None:
        self.cancelled = True
        handle = self._handle
        if handle is not None and threading.get_ident() == self._loop_thread:
            handle.cancel()


class LoopConnection(ReportsLosses, _compat.V5Segments, Connection):  # type: ignore[misc]
    """A driver connection whose socket the session's event loop reads and writes."""

    #: Set on the per-session subclass (``connection_class_for``).
    loop: ClassVar[asyncio.AbstractEventLoop]
    loop_thread: ClassVar[int]
    #: Connections of the session not yet closed, to close them when the loop stops.
    open_connections: ClassVar[set[LoopConnection]]
    #: Why no new connection may open: the loop stopped (``watch_loop``).
    stopped: ClassVar[str | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        Connection.__init__(self, *args, **kwargs)
        if threading.get_ident() == self.loop_thread:
            # Connecting blocks (connect, TLS handshake, then the driver waits for READY).
            raise ConnectionException(
                "cassandra_asgi: a loop-served connection was opened on the event loop thread",
                self.endpoint,
            )
        if self.stopped is not None:
            raise ConnectionShutdown(self.stopped)
        #: Bytes ready for the wire, and (protocol v5) frames still to wrap in segments.
        self._pending: list[bytes] = []
        self._frames: list[bytes] = []
        self._flush_scheduled = False
        self._writer_armed = False
        self._reader_armed = False
        self._chunk = bytearray(_READ_CHUNK)
        self._read_budget = _MIN_READ_PER_CALLBACK  # grows while the replies are cheap
        self._view = memoryview(self._chunk)
        self._sock: Any = None
        # Blocking, in the driver's thread: connect and TLS handshake.
        self._sock = _compat.connect_socket(self)
        self._sock.setblocking(False)
        self._fd = self._sock.fileno()
        self._tls = isinstance(self._sock, ssl.SSLSocket)
        self.open_connections.add(self)
        self._on_loop(self._start_reading)
        _compat.start_handshake(self)

    # -- reactor hooks the driver calls on the class ----------------------------------------
    @classmethod
    def create_timer(cls, timeout: float, callback: Callable[[], Any]) -> LoopTimer:
        timer = LoopTimer(callback, cls.loop_thread)
        if threading.get_ident() == cls.loop_thread:
            timer.arm(cls.loop, timeout)
        else:
            with contextlib.suppress(RuntimeError):  # the loop is closed: it never fires
                cls.loop.call_soon_threadsafe(timer.arm, cls.loop, timeout)
        return timer

    # -- any thread -------------------------------------------------------------------------
    def _on_loop(self, function: Callable[..., Any], *args: Any) -> None:
        """Run ``function`` on the loop: at once there, else at its next iteration."""
        if threading.get_ident() == self.loop_thread:
            function(*args)
            return
        try:
            self.loop.call_soon_threadsafe(function, *args)
        except RuntimeError:  # the loop is closed
            self.defunct(ConnectionShutdown(f"the event loop serving {self.endpoint} is closed"))
            self._release_socket()

    def send_msg(
        self,
        msg: Any,
        request_id: int,
        cb: Callable[[Any], Any],
        encoder: Callable[..., bytes] = ProtocolHandler.encode_message,
        decoder: Callable[..., Any] = ProtocolHandler.decode_message,
        result_metadata: Any = None,
    ) -> int:
        """``Connection.send_msg``, except that v5 frames are wrapped in segments at flush
        time, many to a segment, rather than one segment per message here."""
        if self.is_defunct:
            raise ConnectionShutdown(f"Connection to {self.endpoint} is defunct")
        if self.is_closed:
            raise ConnectionShutdown(f"Connection to {self.endpoint} is closed")
        _compat.expect_reply(self, request_id, cb, decoder, result_metadata)
        frame = encoder(
            msg,
            request_id,
            self.protocol_version,
            compressor=self.compressor,
            allow_beta_protocol_version=self.allow_beta_protocol_version,
        )
        if _compat.segment_codec(self) is None:
            self.push(frame)
        elif threading.get_ident() == self.loop_thread:
            self._queue_frame(frame)
        else:
            self._on_loop(self._queue_frame, frame)
        return len(frame)

    def push(self, data: bytes) -> None:
        if threading.get_ident() == self.loop_thread:
            self._queue(data)
        else:
            self._on_loop(self._queue, data)

    def close(self) -> None:
        with self.lock:
            if self.is_closed:
                return
            self.is_closed = True
        log.debug("closing loop-served connection (%s) to %s", id(self), self.endpoint)
        # The socket is closed on the loop: it must leave the loop's selector first.
        self._on_loop(self._release_socket)
        if not self.is_defunct:
            shutdown = ConnectionShutdown(f"Connection to {self.endpoint} was closed")
            self.error_all_requests(shutdown)
            if not self.connected_event.is_set():
                self.last_error = shutdown
            self.connected_event.set()

    def error_all_requests(self, exc: BaseException) -> None:
        """Fail every request waiting on this connection, ``_HANDLING_BUDGET`` worth per loop
        iteration.

        The driver fails them all in one go on the calling thread, or past a threshold from a
        thread of its own, which here would send every retry across threads. Each failure runs
        the retry policy and may send the request again (a quarter of a millisecond on a loaded
        machine): 300 of them at once would stall the loop for tens of milliseconds."""
        if threading.get_ident() != self.loop_thread:
            try:
                self.loop.call_soon_threadsafe(self.error_all_requests, exc)
            except RuntimeError:  # the loop is closed: nothing there would fail them
                Connection.error_all_requests(self, exc)
            return
        callbacks = _compat.take_reply_callbacks(self)
        if callbacks:
            self._fail_requests(callbacks, ConnectionShutdown(str(exc)), 0)

    def _fail_requests(
        self, callbacks: list[Callable[[Any], Any]], error: ConnectionShutdown, start: int
    ) -> None:
        until = time.perf_counter() + _HANDLING_BUDGET
        index = start
        while index < len(callbacks):
            callback = callbacks[index]
            index += 1
            try:
                callback(error)
            except Exception:
                log.warning("failing a request of lost connection %s raised", self, exc_info=True)
            if time.perf_counter() >= until:
                break
        if index < len(callbacks):
            self.loop.call_soon(self._fail_requests, callbacks, error, index)

    # -- loop thread ------------------------------------------------------------------------
    def _start_reading(self) -> None:
        if self.is_closed or self.is_defunct:
            self._release_socket()
            return
        self.loop.add_reader(self._fd, self._read)
        self._reader_armed = True

    def _release_socket(self) -> None:
        self.open_connections.discard(self)
        sock = self._sock
        if sock is None:
            return
        self._sock = None
        self._pending.clear()
        self._frames.clear()
        loop = self.loop
        if not loop.is_closed():
            if self._reader_armed:
                loop.remove_reader(self._fd)
            if self._writer_armed:
                loop.remove_writer(self._fd)
        self._reader_armed = self._writer_armed = False
        with contextlib.suppress(OSError):
            sock.close()

    def _queue(self, data: bytes) -> None:
        if self._sock is None:
            return  # closed: the driver has failed (or will fail) the request
        self._pending.append(data)
        if not self._flush_scheduled and not self._writer_armed:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _queue_frame(self, frame: bytes) -> None:
        if self._sock is None:
            return
        self._frames.append(frame)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _wrap_frames(self) -> None:
        """Move the queued frames into ``_pending`` as v5 segments: as many whole frames per
        self-contained segment as fit, a frame too large for one split over several."""
        frames, self._frames = self._frames, []
        codec = _compat.segment_codec(self)
        out = io.BytesIO()
        group: list[bytes] = []
        size = 0
        for frame in frames:
            if size + len(frame) > _SEGMENT_PAYLOAD and group:
                codec.encode(out, b"".join(group))
                group, size = [], 0
            if len(frame) > _SEGMENT_PAYLOAD:
                codec.encode(out, frame)
                continue
            group.append(frame)
            size += len(frame)
        if group:
            codec.encode(out, group[0] if len(group) == 1 else b"".join(group))
        self._pending.append(out.getvalue())

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._frames:
            self._wrap_frames()
        if not self._writer_armed:
            self._write()

    def _write(self) -> None:
        pending = self._pending
        sock = self._sock
        if sock is None or not pending:
            return
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        pending.clear()
        try:
            sent = sock.send(data)
        except _RETRY_LATER:
            sent = 0
        except OSError as exc:
            self._lose(exc)
            return
        if sent < len(data):
            pending.append(data[sent:])
            if not self._writer_armed:
                self._writer_armed = True
                self.loop.add_writer(self._fd, self._write)
        elif self._writer_armed:
            self._writer_armed = False
            self.loop.remove_writer(self._fd)

    def _read(self) -> None:
        sock = self._sock
        if sock is None:
            return
        iobuf = _compat.io_buffer(self)
        view = self._view
        closed_by_peer = False
        budget = self._read_budget
        remaining = budget
        while remaining > 0:
            asked = min(remaining, _READ_CHUNK)
            try:
                count = sock.recv_into(view, asked)
            except _RETRY_LATER:
                break
            except OSError as exc:
                self._lose(exc)
                return
            if not count:
                closed_by_peer = True
                break
            iobuf.write(view[:count])
            if self._tls and sock.pending():
                continue  # decrypted bytes the selector cannot see: take them now
            remaining -= count
            if count < asked:
                break  # a short read emptied the socket
        if iobuf.tell():
            started = time.perf_counter()
            try:
                self.process_io_buffer()
            except Exception as exc:  # a malformed frame: nothing later on it can be trusted
                self.defunct(exc)
                return
            self._adapt_read_budget(time.perf_counter() - started, budget - remaining, budget)
        if closed_by_peer:
            self._lose(ConnectionShutdown(f"{self.endpoint} closed the connection"))

    def _adapt_read_budget(self, spent: float, taken: int, budget: int) -> None:
        """Keep one callback's share of the replies near ``_HANDLING_BUDGET`` seconds."""
        if spent > _HANDLING_BUDGET:
            self._read_budget = max(_MIN_READ_PER_CALLBACK, min(budget, taken) // 2)
        elif taken >= budget and spent < _HANDLING_BUDGET / 4:
            self._read_budget = min(_MAX_READ_PER_CALLBACK, budget * 2)

    def _lose(self, error: BaseException) -> None:
        """The socket failed (a reset, or the server closed it): fail the connection and
        tell its owner (``_losses``)."""
        serving = self._serving()
        log.debug("connection %s lost: %s", self, error)
        self.defunct(error)
        if serving:
            self._report_loss()


def connection_class_for(loop: asyncio.AbstractEventLoop) -> type[LoopConnection]:
    """A ``LoopConnection`` class of one session, served by ``loop`` (call on its thread)."""
    attributes = {"loop": loop, "loop_thread": threading.get_ident(), "open_connections": set()}
    return type("LoopConnection", (LoopConnection,), attributes)


def close_all(connection_class: type[LoopConnection], reason: str) -> None:
    """Refuse new connections and close the open ones (on the loop thread)."""
    connection_class.stopped = reason
    connection_class.cluster = None
    for connection in list(connection_class.open_connections):
        connection.defunct(ConnectionShutdown(reason))
        connection._release_socket()


def watch_loop(connection_class: type[LoopConnection]) -> asyncio.Task[None]:
    """A task that closes every connection of ``connection_class`` when it is cancelled: the
    loop is shutting down (``asyncio.run`` and test runners cancel what is left), and nothing
    would serve those sockets any more. ``close()`` cancels it too, after the driver is done."""

    async def watch() -> None:
        try:
            await asyncio.get_running_loop().create_future()
        finally:
            close_all(
                connection_class,
                "the event loop serving this session stopped; connect() again on a running loop",
            )

    return connection_class.loop.create_task(watch(), name="cassandra_asgi-loop-io")
