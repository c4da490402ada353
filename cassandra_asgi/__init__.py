"""cassandra-asgi: Apache Cassandra for asyncio web applications, without blocking the loop."""

from __future__ import annotations

from .adapters.asgi import CassandraMiddleware
from .config import CassandraConfig
from .connect import Connecting, connect
from .errors import (
    CassandraASGIError,
    ConfigError,
    ConnectError,
    ForkedSessionError,
    LifespanNotRunError,
    SessionClosedError,
    WrongEventLoopError,
)
from .metrics import SessionMetrics
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
    "LifespanNotRunError",
    "RowStream",
    "SessionClosedError",
    "SessionMetrics",
    "WrongEventLoopError",
    "connect",
    "dict_rows",
    "named_tuple_rows",
    "tuple_rows",
]
