"""cassandra-asgi: Apache Cassandra for asyncio web applications, without blocking the loop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from .adapters.asgi import CassandraMiddleware

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


def __getattr__(name: str) -> Any:
    # The ASGI middleware is re-exported lazily: the adapter imports this package, so importing
    # it eagerly here would be circular.
    if name == "CassandraMiddleware":
        from .adapters.asgi import CassandraMiddleware

        return CassandraMiddleware
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
