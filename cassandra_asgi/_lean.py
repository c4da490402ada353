"""The lean path of ``io="loop"``: a plain prepared EXECUTE sent without a ``ResponseFuture``.

With the loop serving the sockets, the reply to an EXECUTE arrives on the very thread that
awaits it, so most of what the driver's ``ResponseFuture`` does per request is there for
threads that no longer exist: its ``threading.Event`` and lock, a reactor timer, callback
lists, the query-plan generator kept for retries. For the hottest case this module sends the
driver's own ``ExecuteMessage`` to the first host of the driver's query plan, over a
connection borrowed from the driver's pool, and settles the waiting ``DriverRequest`` straight
from the reply, with one ``call_later`` for the deadline.

It takes the ordinary case: a prepared statement's first page, no custom payload or
statement retry policy, no speculative executions or continuous paging, no driver metrics, no
per-call driver options. A reply that is a single page of rows (or a void result) without
warnings, trace or new metadata settles the request at once. Any other reply (an error,
``UNPREPARED``, more pages, a schema change...) is handed to a driver ``ResponseFuture`` made
for the request without sending anything (``_compat.adopt_reply``), which then handles it as
if it had sent the request itself: retry policy, re-prepare, paging. Nothing is ever sent
twice by this path, so its outcome is the driver's for any statement. When no connection is at
hand (no pool for the host, a full pool) the request goes to ``Session.execute_async`` before
anything was sent. A client timeout is handled as the driver handles it.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from cassandra import OperationTimedOut
from cassandra.cluster import ExecutionProfile
from cassandra.policies import NoSpeculativeExecutionPolicy
from cassandra.protocol import (
    RESULT_KIND_ROWS,
    RESULT_KIND_VOID,
    ExecuteMessage,
    ResultMessage,
)
from cassandra.query import FETCH_SIZE_UNSET, BoundStatement

from . import _compat
from ._core import SessionCore
from ._request import DriverRequest

__all__ = ["LeanPath", "LeanRequest"]

_TIMED_OUT = "Client request timeout. See Session.execute[_async](timeout)"


class LeanPath:
    """What a session's lean requests share: the driver session and its fixed settings."""

    __slots__ = ("cluster", "core", "driver", "loop_thread", "pools")

    def __init__(self, core: SessionCore, cluster: Any, driver_session: Any) -> None:
        self.core = core
        self.cluster = cluster
        self.driver = driver_session
        self.pools = _compat.session_pools(driver_session)
        #: Sessions are made on their loop's thread.
        self.loop_thread = threading.get_ident()

    def takes(self, statement: Any, profile: Any) -> bool:
        """Whether ``statement`` (already bound) under ``profile`` is the lean path's case."""
        if type(statement) is not BoundStatement or type(profile) is not ExecutionProfile:
            return False
        if statement.custom_payload or statement.retry_policy is not None:
            return False
        speculative = profile.speculative_execution_policy
        if speculative is not None and type(speculative) is not NoSpeculativeExecutionPolicy:
            return False
        return profile.continuous_paging_options is None and not self.cluster.metrics_enabled

    def message(self, statement: Any, profile: Any) -> ExecuteMessage:
        """The EXECUTE the driver would send for ``statement`` (its first page)."""
        driver = self.driver
        prepared = statement.prepared_statement
        fetch_size = statement.fetch_size
        if fetch_size is FETCH_SIZE_UNSET:
            fetch_size = driver.default_fetch_size
        timestamp = None
        if driver.use_client_timestamp:
            timestamp = self.cluster.timestamp_generator()
        consistency = statement.consistency_level
        serial = statement.serial_consistency_level
        message = ExecuteMessage(
            prepared.query_id,
            statement.values,
            profile.consistency_level if consistency is None else consistency,
            profile.serial_consistency_level if serial is None else serial,
            fetch_size,
            None,
            timestamp,
            skip_meta=bool(prepared.result_metadata),
            result_metadata_id=prepared.result_metadata_id,
        )
        message.allow_beta_protocol_version = self.cluster.allow_beta_protocol_version
        return message


class LeanRequest(DriverRequest):
    """A ``DriverRequest`` whose first page goes out on the lean path; if that path declines
    the outcome, it becomes an ordinary driver request (``fall_back``)."""

    __slots__ = (
        "connection",
        "connection_used",
        "deadline",
        "lean",
        "lean_host",
        "message",
        "plan",
        "pool",
        "profile",
        "profile_name",
        "request_id",
        "sent_at",
        "statement",
    )

    def __init__(
        self,
        lean: LeanPath,
        budget: float | None,
        statement: Any,
        profile: Any,
        profile_name: Any,
    ) -> None:
        super().__init__(lean.core, budget)
        self.lean = lean
        self.statement = statement
        self.profile = profile
        self.profile_name = profile_name
        self.message: Any = None
        #: The query plan the host came from, for the driver to go on with (retries).
        self.plan: Any = None
        self.lean_host: Any = None
        self.connection: Any = None
        self.connection_used: Any = None
        self.pool: Any = None
        self.request_id = 0
        self.deadline: Any = None
        self.sent_at = 0.0

    def send(self, timeout: float | None) -> None:
        """Send the first page, on the lean path if a connection is at hand, else the driver's."""
        lean = self.lean
        statement = self.statement
        core = self.core
        policy = self.profile.load_balancing_policy
        self.plan = plan = iter(policy.make_query_plan(lean.driver.keyspace, statement))
        host = next(plan, None)
        pool = None if host is None else lean.pools.get(host)
        if pool is None or pool.is_shutdown:
            self.fall_back(timeout)
            return
        try:
            connection, request_id = pool.borrow_connection(timeout=2.0)
        except Exception:
            self.fall_back(timeout)  # the driver tries the next host, or says why none
            return
        self.message = message = lean.message(statement, self.profile)
        handler = lean.driver.client_protocol_handler
        try:
            connection.send_msg(
                message,
                request_id,
                self._on_reply,
                encoder=handler.encode_message,
                decoder=handler.decode_message,
                result_metadata=statement.prepared_statement.result_metadata,
            )
        except Exception:
            pool.return_connection(connection)
            self.message = None
            self.fall_back(timeout)
            return
        self.connection, self.pool, self.request_id = connection, pool, request_id
        self.connection_used = connection
        self.lean_host = self.host = host
        loop = core.loop
        self.sent_at = loop.time()
        if timeout is not None:
            self.deadline = loop.call_later(timeout, self._on_deadline)
        core.pending.add(self)
        core.metrics.sent(host)

    def fall_back(self, timeout: float | None) -> None:
        """Hand the request to the driver's full path (``Session.execute_async``)."""
        self.message = None
        self.lean_host = None
        self.start(
            self.lean.driver.execute_async(
                self.statement, None, timeout=timeout, execution_profile=self.profile_name
            )
        )

    def _settle_lean(self, rows: list[Any] | None, error: BaseException | None) -> None:
        self.connection = self.pool = self.connection_used = self.plan = None
        deadline = self.deadline
        if deadline is not None:
            self.deadline = None
            deadline.cancel()
        if not self.settled:
            self._finish(rows, error)

    def _remaining(self) -> float | None:
        if self.budget is None:
            return None
        return self.budget - (self.core.loop.time() - self.sent_at)

    # -- loop thread (the connection is served by the loop) ---------------------------------
    def _on_reply(self, response: Any) -> None:
        if threading.get_ident() != self.lean.loop_thread:
            self._failed_elsewhere(response)
            return
        pool, connection = self.pool, self.connection
        if pool is None:
            return  # the deadline came first
        pool.return_connection(connection)
        if (
            isinstance(response, ResultMessage)
            and not response.warnings
            and not response.custom_payload
            and not response.trace_id
        ):
            kind = response.kind
            if kind == RESULT_KIND_ROWS:
                new_metadata = getattr(response, "result_metadata_id", None)
                if response.paging_state is None and new_metadata is None:
                    self.column_names = names = response.column_names
                    self._settle_lean(self.profile.row_factory(names, response.parsed_rows), None)
                    return
            elif kind == RESULT_KIND_VOID:
                self._settle_lean(None, None)
                return
        self._hand_over(response)

    def _failed_elsewhere(self, error: Any) -> None:
        """The connection failed under a driver thread (a heartbeat, shutdown, or the thread
        the driver fails the requests of a broken connection in when there are many): the
        driver's handling of the failure runs there, as with the reactor thread, and only
        following its future is left to the loop, so a connection lost under a thousand
        requests does not stall the loop."""
        pool, connection = self.pool, self.connection
        if pool is None or self.settled:
            return
        pool.return_connection(connection)
        future = self._adopted_by_driver(error)
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            self.core.loop.call_soon_threadsafe(self._follow, future)

    def _adopted_by_driver(self, reply: Any) -> Any:
        """A driver ``ResponseFuture`` that takes the request over as if it had sent it itself,
        with ``reply`` (a response or the connection's error) as its first answer
        (``_compat.adopt_reply``), or the exception that refused it."""
        remaining = self._remaining()
        sent = (self.lean_host, self.connection_used, self.request_id, self.plan)
        try:
            return _compat.adopt_reply(
                self.lean.driver,
                self.statement,
                None if remaining is None else max(remaining, 0.0),
                self.profile_name,
                sent,
                reply,
            )
        except Exception as exc:
            return exc

    def _follow(self, future: Any) -> None:
        """On the loop: follow the driver future that took the request over."""
        self.connection = self.pool = None
        deadline = self.deadline
        if deadline is not None:
            self.deadline = None
            deadline.cancel()
        self.message = None
        if self.settled:
            return
        if isinstance(future, Exception):
            self._finish(None, future)
            return
        self.response_future = future
        future.add_callbacks(self._on_result, self._on_error)

    def _hand_over(self, response: Any) -> None:
        """Give the reply to a driver ``ResponseFuture``, which handles it as if it had sent
        the request itself (``_compat.adopt_reply``); this request then follows that future."""
        self.connection = self.pool = None
        deadline = self.deadline
        if deadline is not None:
            self.deadline = None
            deadline.cancel()
        if self.settled:
            return  # failed by close(): nobody is left to hand it to
        self.message = None
        future = self._adopted_by_driver(response)
        if isinstance(future, Exception):
            self._finish(None, future)
            return
        self.response_future = future
        # Already counted as sent to this host: follow the future, as ``start()`` would.
        future.add_callbacks(self._on_result, self._on_error)

    def _on_deadline(self) -> None:
        self.deadline = None
        pool, connection, host = self.pool, self.connection, self.lean_host
        if pool is None:
            return
        self.connection = self.pool = None
        if _compat.orphan_request(connection, pool, self.request_id):
            errors = {str(host.endpoint): _TIMED_OUT}
        else:
            errors = {"Connection defunct by heartbeat": _TIMED_OUT}
        if not self.settled:
            self._finish(None, OperationTimedOut(errors, host))

    # -- DriverRequest hooks ----------------------------------------------------------------
    def last_tried(self) -> Any:
        if self.response_future is None:
            return self.lean_host
        return super().last_tried()

    def read_page_state(self) -> None:
        if self.response_future is not None:
            super().read_page_state()
        # else: a single page; its column names were taken from the reply

    def sent_message(self) -> Any:
        if self.response_future is None:
            return self.message
        return super().sent_message()

    def coordinator(self, error: BaseException | None) -> Any:
        if self.response_future is None:
            if error is None or isinstance(error, OperationTimedOut):
                return self.lean_host
            return None
        return super().coordinator(error)
