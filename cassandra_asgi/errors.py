"""Errors raised by cassandra-asgi itself.

Driver exceptions (``cassandra.InvalidRequest``, ``OperationTimedOut``, ``NoHostAvailable``...)
are never wrapped: callers already know how to handle them, and wrapping would hide the
server's own message. The classes below cover what only this library can detect.
"""

from __future__ import annotations

__all__ = [
    "CassandraASGIError",
    "ConfigError",
    "ConnectError",
    "ForkedSessionError",
    "LifespanNotRunError",
    "SessionClosedError",
    "StartupHookError",
    "WrongEventLoopError",
]


class CassandraASGIError(Exception):
    """Base class of every error this library raises on its own account."""


class ConfigError(CassandraASGIError, ValueError):
    """A configuration value is missing or malformed; the message names the setting."""


class ConnectError(CassandraASGIError, ConnectionError):
    """The cluster could not be reached; the message names the contact points and the cause."""


class StartupHookError(CassandraASGIError, RuntimeError):
    """The application's ``on_connect`` hook raised after a successful connect.

    The session was closed again; the hook's own exception is the ``__cause__``.
    """


class SessionClosedError(CassandraASGIError, RuntimeError):
    """The session was used after ``close()`` started."""


class ForkedSessionError(CassandraASGIError, RuntimeError):
    """The session was used in a process other than the one that connected it.

    Driver connections do not survive ``fork()``: without this check the child would only see
    timeouts. Create the session after forking (at application startup, in each worker).
    """


class WrongEventLoopError(CassandraASGIError, RuntimeError):
    """The session was used from an event loop other than the one that created it."""


class LifespanNotRunError(CassandraASGIError, RuntimeError):
    """A request arrived but the ASGI server never ran the lifespan protocol."""
