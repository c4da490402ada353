"""Every private name of cassandra-driver (3.29, 3.30) and asyncio this package relies on.

The driver has no public way to re-arm a future's timer for its next page, to read the paging
state and column names a callback was given, to set the timeout ``Session.prepare()`` waits, or
to reach the policy a ``TokenAwarePolicy`` wraps;
asyncio has no public "running loop or None". Reaching them from one module keeps the list
short and checked: ``tests/core/test_compat.py`` fails, naming the driver version, if the
installed driver lacks any name in ``RELIED_ON``, and fails if another module reaches past this
one.
"""

from __future__ import annotations

import time
from asyncio.events import _get_running_loop
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future
from typing import Any

import cassandra.connection
from cassandra.query import _clean_column_name
from cassandra.segment import CRC32_LENGTH, CrcException, Segment, SegmentCodec
from cassandra.util import _sanitize_identifiers

__all__ = [
    "RELIED_ON",
    "RELIED_ON_PER_INSTANCE",
    "RELIED_ON_PER_SESSION",
    "V5Segments",
    "adopt_reply",
    "child_policy",
    "clean_column_name",
    "column_names",
    "connect_socket",
    "expect_reply",
    "forget_spent_timer",
    "initial_pool_futures",
    "io_buffer",
    "orphan_request",
    "paging_state",
    "process_segment_buffer",
    "query_retries",
    "rearm_timer",
    "running_loop",
    "sanitize_identifiers",
    "segment_codec",
    "session_pools",
    "set_prepare_timeout",
    "start_handshake",
    "take_reply_callbacks",
]

#: ``module:object.attribute`` for each private name used below.
RELIED_ON = (
    "asyncio.events:_get_running_loop",
    "cassandra.query:_clean_column_name",
    "cassandra.util:_sanitize_identifiers",
    "cassandra.cluster:ResponseFuture._timer",
    "cassandra.cluster:ResponseFuture._start_time",
    "cassandra.cluster:ResponseFuture._paging_state",
    "cassandra.cluster:ResponseFuture._col_names",
    "cassandra.cluster:ResponseFuture._query_retries",
    "cassandra.cluster:Session._default_timeout",
    "cassandra.cluster:Session._pools",
    "cassandra.cluster:Session._create_response_future",
    "cassandra.cluster:ResponseFuture._set_result",
    "cassandra.cluster:ResponseFuture._connection",
    "cassandra.cluster:ResponseFuture._current_host",
    "cassandra.cluster:ResponseFuture._req_id",
    "cassandra.connection:Connection.orphaned_request_ids",
    "cassandra.connection:Connection.orphaned_threshold",
    "cassandra.connection:Connection.orphaned_threshold_reached",
    "cassandra.connection:Connection._iobuf",
    "cassandra.connection:Connection._socket",
    "cassandra.connection:Connection._connect_socket",
    "cassandra.connection:Connection._send_options_message",
    "cassandra.connection:Connection._is_checksumming_enabled",
    "cassandra.connection:Connection._process_segment_buffer",
    "cassandra.connection:Connection._enable_checksumming",
    "cassandra.connection:_ConnectionIOBuffer._segment_consumed",
    "cassandra.policies:TokenAwarePolicy._child_policy",
)
#: Private attributes a driver ``Connection`` only gets in its ``__init__``
#: (``module:Class.attribute``; checked on an unconnected instance).
RELIED_ON_PER_INSTANCE = (
    "cassandra.connection:Connection._requests",
    "cassandra.connection:Connection._io_buffer",
)
#: Private attributes a driver ``Session`` only gets once connected (checked on a session).
RELIED_ON_PER_SESSION = ("cassandra.cluster:Session._initial_connect_futures",)

#: The running event loop of this thread, or ``None`` (``asyncio.get_running_loop`` raises).
running_loop: Callable[[], Any] = _get_running_loop
#: The driver's cleaning of column names into attribute names (``[applied]`` -> ``applied``).
clean_column_name: Callable[[str], str] = _clean_column_name
#: The driver's fallback for names that still are not identifiers (keywords, duplicates).
sanitize_identifiers: Callable[[Sequence[str]], list[str]] = _sanitize_identifiers


def paging_state(future: Any) -> bytes | None:
    """Where the page a ``ResponseFuture`` just delivered ends (``None``: it was the last)."""
    return future._paging_state  # type: ignore[no-any-return]


def column_names(future: Any) -> list[str] | None:
    """Column names of the result a ``ResponseFuture`` delivered (``None`` without rows)."""
    return future._col_names  # type: ignore[no-any-return]


def query_retries(future: Any) -> int:
    """How many times the retry policy had a ``ResponseFuture`` sent again, over all its pages
    (the driver counts them for the policy and exposes no public count)."""
    return future._query_retries  # type: ignore[no-any-return]


def rearm_timer(future: Any, timeout: float | None) -> None:
    """Let ``timeout`` govern the next page of ``future``.

    The driver arms a future's client-side timer once and never forgets the spent one, so
    without this a page that never arrives would never time out; ``_start_time`` also bounds
    its retries of the page.
    """
    future._timer = None
    future._start_time = time.time()
    future.timeout = timeout


def forget_spent_timer(future: Any) -> None:
    """Drop a finished future's cancelled timer, which refers back to the future."""
    future._timer = None


def connect_socket(connection: Any) -> Any:
    """Open (blocking: connect, TLS handshake) and return a driver connection's socket, as
    every driver reactor does before serving it (``_loop_io``)."""
    connection._connect_socket()
    return connection._socket


def start_handshake(connection: Any) -> None:
    """Send the OPTIONS that starts a connection's protocol handshake (the reactors' step)."""
    connection._send_options_message()


def io_buffer(connection: Any) -> Any:
    """The buffer a reactor appends received bytes to before ``process_io_buffer()``; the
    driver replaces it as frames are consumed, so it is asked for at each read."""
    return connection._iobuf


def expect_reply(
    connection: Any, request_id: int, callback: Any, decoder: Any, result_metadata: Any
) -> None:
    """Register what handles the reply on ``request_id``, as ``Connection.send_msg`` does."""
    connection._requests[request_id] = (callback, decoder, result_metadata)


def take_reply_callbacks(connection: Any) -> list[Callable[[Any], Any]]:
    """Every callback still waiting for a reply on ``connection``, which forgets them, as
    ``Connection.error_all_requests`` takes them before failing each."""
    with connection.lock:
        requests, connection._requests = connection._requests, {}
    return [callback for callback, _, _ in requests.values()]


def segment_codec(connection: Any) -> Any:
    """The protocol v5 segment codec once the connection frames in checksummed segments
    (after READY), else ``None``."""
    if not connection._is_checksumming_enabled:
        return None
    return connection._segment_codec


#: Segment payloads shorter than this (bytes) are sent uncompressed on an LZ4 connection.
COMPRESSED_FROM = 256


class _SmallSegmentsAsIs(SegmentCodec):  # type: ignore[misc]  # the driver is untyped
    """The driver's LZ4 segment codec, except that a short payload is not offered to LZ4.

    A one-row read or write is a payload of 60-120 bytes, which LZ4 never shrinks, so the
    driver sends it uncompressed anyway (uncompressed length 0), but only after trying: a
    call into LZ4 that releases the GIL. On the event loop's thread, with the reactor thread
    busy, every such release can cost the loop a wait for the GIL of up to the switch
    interval (5 ms); twenty requests sent in one iteration stalled the loop for 20 ms.
    """

    def compress(self, data: bytes) -> bytes:
        if len(data) < COMPRESSED_FROM:
            return data  # not smaller: the segment goes as it is
        compressed: bytes = super().compress(data)
        return compressed


def _session_codec(driver_codec: Any) -> Any:
    if driver_codec is None or not driver_codec.compression:
        return driver_codec
    return _SmallSegmentsAsIs(driver_codec.compressor, driver_codec.decompressor)


def process_segment_buffer(connection: Any) -> None:
    """The driver's step that moves one received v5 segment into the frame buffer, run only
    once the whole segment is there. The driver's own test of that is wrong twice, and each
    time it loses the connection (and every request on it):

    - fewer bytes than a segment header: ``Connection._process_segment_buffer`` leaves the
      buffer positioned at its end, and the ``reset_io_buffer()`` that follows keeps only what
      lies after the position, so the partial header is dropped and the next one fails its CRC;
    - on a compressed connection, a segment sent uncompressed (uncompressed length 0, which
      Cassandra does for replies too small to gain from LZ4) still has the 5-byte compressed
      header, but ``SegmentHeader.segment_length`` counts 3: with the last one or two bytes
      still in flight the driver reads a short CRC, and ``struct.error`` defuncts the
      connection.

    Reads of many replies at once end at such places far more often than the reactor
    thread's 4 KiB reads, but those do too. Positioned at the start, the bytes are kept for
    the next read.
    """
    buffers = connection._io_buffer
    codec = segment_codec(connection)
    buffer = buffers.io_buffer
    if codec is not None:
        received = buffer.tell()
        if received < codec.header_length_with_crc or received < _segment_size(codec, buffer):
            buffer.seek(0)
            buffers._segment_consumed = False
            return
        buffer.seek(received)  # the driver takes the position for the bytes received
    cassandra.connection.Connection._process_segment_buffer(connection)


_MAX_PAYLOAD = Segment.MAX_PAYLOAD_LENGTH


def _segment_size(codec: Any, buffer: Any) -> int:
    """Bytes of the segment starting the buffer, header and CRCs included. The header's CRC
    is left to the driver (a CRC24 in pure Python costs 5-9 us) unless the segment is not
    whole yet: a corrupt length must fail now, not wait for bytes that never come. 0 when
    the header fails its CRC, so that the driver's reading raises the error it raises for
    that."""
    received = buffer.tell()
    buffer.seek(0)
    header = int.from_bytes(buffer.read(codec.header_length), "little")
    size = int(codec.header_length_with_crc + (header & _MAX_PAYLOAD) + CRC32_LENGTH)
    if received >= size:
        return size
    buffer.seek(0)
    try:
        codec.decode_header(buffer)
    except CrcException:
        return 0
    return size


class V5Segments:
    """Mixin for a driver ``Connection`` class: v5 segments are handed on only once whole
    (``process_segment_buffer``), and short ones are sent without trying LZ4
    (``_SmallSegmentsAsIs``)."""

    _segment_codec: Any

    def _enable_checksumming(self) -> None:
        cassandra.connection.Connection._enable_checksumming(self)
        self._segment_codec = _session_codec(self._segment_codec)

    def _process_segment_buffer(self) -> None:
        process_segment_buffer(self)


def adopt_reply(
    driver_session: Any,
    statement: Any,
    timeout: float | None,
    execution_profile: Any,
    sent: tuple[Any, Any, int, Any],
    reply: Any,
) -> Any:
    """A ``ResponseFuture`` for ``statement`` that takes over a reply to the EXECUTE the lean
    path sent. ``sent`` is ``(host, connection, request_id, query_plan)``: the connection is
    already back in its pool, the host was the first of the plan. The future is made as
    ``execute_async`` would make it (its own timer for ``timeout``) without sending anything,
    told where the request went, and handed the reply, so the driver's own handling applies
    from there: its retry policy, re-preparing, paging, warnings, traces, schema changes."""
    future = driver_session._create_response_future(
        statement, None, False, None, timeout, execution_profile=execution_profile
    )
    host, connection, request_id, plan = sent
    future.query_plan = plan  # a retry on the next host goes on where the lean path left off
    future._connection = connection
    future._current_host = host
    future._req_id = request_id
    future.attempted_hosts.append(host)
    future._set_result(host, connection, None, reply)
    return future


def session_pools(driver_session: Any) -> Any:
    """The driver session's ``{Host: HostConnection}``, for the lean path (``_lean``) to borrow
    a connection to the first host of the query plan, as ``ResponseFuture._query`` does."""
    return driver_session._pools


def initial_pool_futures(driver_session: Any) -> Collection[Future[Any]]:
    """The opening of a new session's connection pools, one future per host.

    ``Cluster.connect()`` returns once the first pool is open; the others are still opening
    on the driver's executor, and nothing public says when they are done.
    """
    return driver_session._initial_connect_futures  # type: ignore[no-any-return]


def orphan_request(connection: Any, pool: Any, request_id: int) -> bool:
    """What the driver's ``ResponseFuture._on_timeout`` does with a request that timed out:
    stop waiting for it, keep its stream id from reuse until the late reply comes (marking the
    connection for replacement past the orphan threshold), give the connection back. ``False``
    when the request was already gone (its connection failed under it)."""
    try:
        connection._requests.pop(request_id)
    except KeyError:
        return False
    if not pool.is_shutdown:
        with connection.lock:
            orphaned = connection.orphaned_request_ids
            orphaned.add(request_id)
            if len(orphaned) >= connection.orphaned_threshold:
                connection.orphaned_threshold_reached = True
        pool.return_connection(connection, stream_was_orphaned=True)
    return True


def set_prepare_timeout(driver_session: Any, seconds: float) -> None:
    """The timeout ``Session.prepare()`` waits. The public setter refuses to change it once
    execution profiles are in use, although ``prepare()`` still reads it."""
    driver_session._default_timeout = seconds


def child_policy(policy: Any) -> Any:
    """The policy a ``TokenAwarePolicy`` orders replicas for (``None`` for any other policy)."""
    return getattr(policy, "_child_policy", None)
