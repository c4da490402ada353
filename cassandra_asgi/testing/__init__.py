"""In-memory CQL native-protocol server for tests and demos (never a database).

``CQLServer`` speaks protocol v3, v4 and v5 as Cassandra 4.1 does, and enough CQL for the real
cassandra-driver (and other drivers) to connect with default settings, and adds fault and
latency injection; see docs/cql-subset.md. ``CQLCluster`` runs several of them as one
multi-node, multi-DC cluster; see docs/cluster.md.
"""

from __future__ import annotations

from .cluster.cluster import CQLCluster
from .cluster.server import CQLServer

__all__ = ["CQLCluster", "CQLServer"]
