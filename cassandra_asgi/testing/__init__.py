"""In-memory CQL native-protocol server for tests and demos (never a database).

``CQLServer`` speaks enough of protocol v3/v4 and CQL for the real cassandra-driver to
connect with default settings, and adds fault and latency injection; see docs/cql-subset.md.
"""

from __future__ import annotations

from .cluster.server import CQLServer

__all__ = ["CQLServer"]
