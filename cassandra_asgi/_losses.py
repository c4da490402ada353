"""Connections that die under their reader are handed to their owner at once.

The driver hears of a dead connection when a request on it fails, or at its heartbeat's next
round (``idle_heartbeat_interval``, 30 s by default). A node killed while its connections are
idle therefore stays up for that long, and when it held the control connection no event from
its peers reaches the driver meanwhile. Both connection classes of a session (the loop-served
one, and the driver's reactor one in thread mode) report a connection whose socket failed,
so the owner reacts as it does to any failed connection: a pool marks its host down, the
control connection moves to another node.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

__all__ = ["ReportsLosses", "report_losses_to", "reporting_reactor_connection"]


class ReportsLosses:
    """Mixin for a driver ``Connection`` class made per session."""

    #: The driver ``Cluster`` to tell (``report_losses_to``); ``None`` until connected.
    cluster: ClassVar[Any] = None
    connected_event: Any
    is_closed: bool
    is_defunct: bool
    is_control_connection: bool

    def _serving(self) -> bool:
        """Ready and not yet failed: a connection that fails before READY is the driver's to
        handle (it is still connecting, or downgrading the protocol version)."""
        return bool(self.connected_event.is_set()) and not (self.is_defunct or self.is_closed)

    def _report_loss(self) -> None:
        cluster = type(self).cluster
        if cluster is not None:
            with contextlib.suppress(RuntimeError):  # the cluster is shutting down
                cluster.executor.submit(_return_to_owner, cluster, self)


def _return_to_owner(cluster: Any, connection: ReportsLosses) -> None:
    """In a driver thread: give a failed connection back to the pool or control connection
    holding it, as the driver's heartbeat does with the failed connections it finds."""
    if cluster.is_shutdown:
        return
    for holder in cluster.get_connection_holders():
        if connection in holder.get_connections():
            if connection.is_control_connection:
                holder.return_connection(connection)
            else:  # no request's stream to give back: the driver failed those already
                holder.return_connection(connection, stream_was_orphaned=True)
            return


def report_losses_to(connection_class: type[ReportsLosses], cluster: Any) -> None:
    """From now on, tell ``cluster`` of the connections of ``connection_class`` that fail."""
    connection_class.cluster = cluster


def reporting_reactor_connection(base: type[Any]) -> type[Any]:
    """A per-session subclass of the driver's reactor connection class ``base`` that reports
    a connection its reader found reset or closed by the server (``handle_read``, where
    every driver reactor notices both)."""

    def handle_read(self: Any, *args: Any, **kwargs: Any) -> None:
        serving = self._serving()
        try:
            base.handle_read(self, *args, **kwargs)
        finally:
            if serving and not self._serving():
                self._report_loss()

    return type(base.__name__, (ReportsLosses, base), {"handle_read": handle_read})
