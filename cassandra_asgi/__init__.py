"""cassandra-asgi: Apache Cassandra for asyncio web applications, without blocking the loop."""

from __future__ import annotations

#: The package version; setup.cfg reads it from here (``attr:``), so it has one source.
__version__ = "0.1.0"

from .adapters.asgi import CassandraMiddleware
from .config import CassandraConfig
from .connect import Connecting, connect
from .errors import (
    CassandraASGIError,
    ConfigError,
    ConnectError,
    ForkedSessionError,
    LifespanNotRunError,
    LocalDCDownError,
    SessionClosedError,
    WrongEventLoopError,
)
from .health import HealthReport
from .metrics import HostMetrics, SessionMetrics
from .results import AsyncResultSet
from .rows import dict_rows, named_tuple_rows, tuple_rows
from .session import AsyncSession
from .streaming import RowStream

__all__ = [
    "AsyncResultSet",
    "AsyncSession",
    "CassandraASGIError",
    "CassandraConfig",
    "CassandraMiddleware",
    "ConfigError",
    "ConnectError",
    "Connecting",
    "ForkedSessionError",
    "HealthReport",
    "HostMetrics",
    "LifespanNotRunError",
    "LocalDCDownError",
    "RowStream",
    "SessionClosedError",
    "SessionMetrics",
    "WrongEventLoopError",
    "__version__",
    "connect",
    "dict_rows",
    "named_tuple_rows",
    "tuple_rows",
]
