"""cassandra-asgi: Apache Cassandra for asyncio web applications, without blocking the loop."""

from __future__ import annotations

from .config import CassandraConfig
from .errors import (
    CassandraASGIError,
    ConfigError,
    ConnectError,
    ForkedSessionError,
    LifespanNotRunError,
    SessionClosedError,
    WrongEventLoopError,
)

__all__ = [
    "CassandraASGIError",
    "CassandraConfig",
    "ConfigError",
    "ConnectError",
    "ForkedSessionError",
    "LifespanNotRunError",
    "SessionClosedError",
    "WrongEventLoopError",
]
