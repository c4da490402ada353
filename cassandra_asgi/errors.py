"""Errors raised by cassandra-asgi itself, and the driver's own exceptions, typed.

Driver exceptions (``InvalidRequest``, ``OperationTimedOut``, ``NoHostAvailable``...) are never
wrapped: callers already know how to handle them, and wrapping would hide the server's own
message. They are re-exported here as the very same class objects; for type checkers, which
get nothing from the untyped driver, they are declared with the driver's bases and attributes
(``tests/core/test_errors.py`` checks both against the installed driver). So an application
under ``mypy --strict`` can ``except errors.Unavailable as exc: exc.alive_replicas`` without
an ``import-untyped`` error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "AlreadyExists",
    "AuthenticationFailed",
    "CassandraASGIError",
    "ConfigError",
    "ConfigurationException",
    "ConnectError",
    "ConnectionException",
    "ConnectionShutdown",
    "CoordinationFailure",
    "DriverException",
    "ErrorMessage",
    "ForkedSessionError",
    "InvalidRequest",
    "IsBootstrappingErrorMessage",
    "LifespanNotRunError",
    "LocalDCDownError",
    "NoHostAvailable",
    "OperationTimedOut",
    "OverloadedErrorMessage",
    "ReadFailure",
    "ReadTimeout",
    "RequestExecutionException",
    "RequestValidationException",
    "ServerError",
    "SessionClosedError",
    "StartupHookError",
    "SyntaxException",
    "Timeout",
    "Unauthorized",
    "Unavailable",
    "UnresolvableContactPoints",
    "WriteFailure",
    "WriteTimeout",
    "WrongEventLoopError",
]

if TYPE_CHECKING:

    class DriverException(Exception): ...

    class RequestExecutionException(DriverException): ...

    class RequestValidationException(DriverException): ...

    class Unavailable(RequestExecutionException):
        consistency: int | None
        required_replicas: int | None
        alive_replicas: int | None

    class Timeout(RequestExecutionException):
        consistency: int | None
        required_responses: int | None
        received_responses: int | None

    class ReadTimeout(Timeout):
        data_retrieved: bool | None

    class WriteTimeout(Timeout):
        write_type: int | None

    class CoordinationFailure(RequestExecutionException):
        consistency: int | None
        required_responses: int | None
        received_responses: int | None
        failures: int | None
        error_code_map: dict[str, int] | None

    class ReadFailure(CoordinationFailure):
        data_retrieved: bool | None

    class WriteFailure(CoordinationFailure):
        write_type: int | None

    class InvalidRequest(RequestValidationException): ...

    class ConfigurationException(RequestValidationException): ...

    class AlreadyExists(ConfigurationException):
        keyspace: str | None
        table: str | None

    class Unauthorized(RequestValidationException): ...

    class AuthenticationFailed(DriverException): ...

    class OperationTimedOut(DriverException):
        errors: dict[Any, Any] | None
        last_host: Any

    class UnresolvableContactPoints(DriverException): ...

    class NoHostAvailable(Exception):
        #: Per host, what failed there (a list of addresses when connecting to a keyspace).
        errors: dict[Any, Any] | list[Any]

    class ErrorMessage(Exception):
        """An ERROR frame from the server, raised as is for the errors below."""

        code: int
        message: str
        info: Any

    class ServerError(ErrorMessage): ...

    class OverloadedErrorMessage(ErrorMessage): ...

    class IsBootstrappingErrorMessage(ErrorMessage): ...

    class SyntaxException(ErrorMessage): ...

    class ConnectionException(Exception):
        endpoint: Any

    class ConnectionShutdown(ConnectionException): ...

else:
    from cassandra import (
        AlreadyExists,
        AuthenticationFailed,
        ConfigurationException,
        CoordinationFailure,
        DriverException,
        InvalidRequest,
        OperationTimedOut,
        ReadFailure,
        ReadTimeout,
        RequestExecutionException,
        RequestValidationException,
        Timeout,
        Unauthorized,
        Unavailable,
        UnresolvableContactPoints,
        WriteFailure,
        WriteTimeout,
    )
    from cassandra.cluster import NoHostAvailable
    from cassandra.connection import ConnectionException, ConnectionShutdown
    from cassandra.protocol import (
        ErrorMessage,
        IsBootstrappingErrorMessage,
        OverloadedErrorMessage,
        ServerError,
        SyntaxException,
    )


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


class LocalDCDownError(NoHostAvailable, CassandraASGIError):
    """No host was tried because every node of the local data centre is down and the
    load-balancing policy may not leave it (``used_hosts_per_remote_dc=0``, the default).

    The driver says only "Unable to complete the operation against any hosts" with an empty
    ``errors`` map; this names the data centre, the data centres that still have live nodes and
    the setting that allows falling back to them. It is a ``NoHostAvailable``, so existing
    handlers still catch it. ``live_dcs``: data centres with a node the driver has not seen go
    down (without fallback it holds no connection there, so it knows them only by events).
    """

    def __init__(self, message: str, local_dc: str, live_dcs: list[str]) -> None:
        super().__init__(message, {})
        self.message = message
        self.local_dc = local_dc
        self.live_dcs = live_dcs

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[type[LocalDCDownError], tuple[str, str, list[str]]]:
        # its arguments are not the driver's (message, errors): pickle and copy need telling
        return (type(self), (self.message, self.local_dc, self.live_dcs))


class LifespanNotRunError(CassandraASGIError, RuntimeError):
    """A request arrived but the ASGI server never ran the lifespan protocol."""
