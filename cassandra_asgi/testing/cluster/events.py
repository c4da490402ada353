"""Cluster news: the event bodies clients receive, and news that arrives late.

A client connection that sent REGISTER hears of other nodes through ``STATUS_CHANGE`` (a node
is UP or DOWN) and ``TOPOLOGY_CHANGE`` (NEW_NODE, REMOVED_NODE) events, pushed on stream -1
by the node it is connected to. In a real cluster that news travels by gossip and is late: a
killed node is noticed by the failure detector after some seconds, a restarted one a moment
after it is back, a schema change when the peers have applied it. ``Pending`` holds such news
until it is due.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable, Hashable

from ..wire.notations import string

__all__ = [
    "SCHEMA_CHANGE",
    "STATUS_CHANGE",
    "TOPOLOGY_CHANGE",
    "Pending",
    "inet",
    "node_change",
]

STATUS_CHANGE = "STATUS_CHANGE"
TOPOLOGY_CHANGE = "TOPOLOGY_CHANGE"
SCHEMA_CHANGE = "SCHEMA_CHANGE"

_INT = struct.Struct(">i")


def inet(address: str, port: int) -> bytes:
    """The protocol's [inet]: the address bytes with their length, then the port."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    packed = socket.inet_pton(family, address)
    return bytes([len(packed)]) + packed + _INT.pack(port)


def node_change(change: str, address: str, port: int) -> bytes:
    """Body of a STATUS_CHANGE (``UP``, ``DOWN``) or TOPOLOGY_CHANGE (``NEW_NODE``,
    ``REMOVED_NODE``) event, after the event type: both name the node by its native address."""
    return string(change) + inet(address, port)


class Pending:
    """News due later, at most one item per subject: newer news about a subject replaces older.

    Used on the cluster's loop only. A delay of zero delivers at once, before ``send`` returns,
    so that by default peers learn of a change before the call that caused it completes.
    """

    def __init__(self) -> None:
        self._timers: dict[Hashable, asyncio.TimerHandle] = {}

    def send(self, subject: Hashable, delay: float, deliver: Callable[[], None]) -> None:
        self.cancel(subject)
        if delay <= 0:
            deliver()
            return

        def due() -> None:
            self._timers.pop(subject, None)
            deliver()

        self._timers[subject] = asyncio.get_running_loop().call_later(delay, due)

    def cancel(self, subject: Hashable) -> None:
        timer = self._timers.pop(subject, None)
        if timer is not None:
            timer.cancel()

    def cancel_all(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
