"""Shared pieces of the multi-node suite: session configs for a cluster, bounded waits, data.

Sessions here go through the public API (``connect``, ``CassandraConfig``) with the driver
options a test needs to see cluster changes promptly: a short constant reconnection policy, a
heartbeat every second (the driver notices an idle connection to a dead node only through it,
and events reach it only through its control connection, which may be the one that died), and
no random delay before the driver acts on UP / NEW_NODE events (its defaults wait up to 2 s and
10 s to spread a fleet of clients). Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from cassandra import ConsistencyLevel
from cassandra.cqltypes import Int32Type
from cassandra.policies import ConstantReconnectionPolicy, WhiteListRoundRobinPolicy
from cassandra.query import SimpleStatement

from cassandra_asgi import AsyncSession, CassandraConfig
from cassandra_asgi.testing import CQLCluster
from cassandra_asgi.testing.cluster.cluster import Node
from cassandra_asgi.testing.cluster.process import ClusterProcess, RemoteNode

#: Added to a configured timeout before a test calls something "hung" (a busy 2-core machine).
MARGIN = 5.0


def cluster_config(cluster: CQLCluster | ClusterProcess, **overrides: Any) -> CassandraConfig:
    """A config for ``cluster`` that notices node changes quickly (``overrides`` win).

    With ``local_dc`` the contact points are that data centre's nodes, as they should be in
    production: the driver opens its control connection to any contact point, before it
    knows which data centre each is in.
    """
    local_dc = overrides.get("local_dc")
    points = [n.contact_point for n in cluster.nodes if local_dc is None or n.dc == local_dc]
    options: dict[str, Any] = {
        "contact_points": points,
        "port": cluster.port,
        "reconnection_policy": ConstantReconnectionPolicy(0.2, max_attempts=None),
        # an idle connection to a node that hangs (never answers) is noticed by the heartbeat
        # only; one the node reset or closed, at once (cassandra_asgi._losses)
        "idle_heartbeat_interval": 1,
        "idle_heartbeat_timeout": 2,
        "status_event_refresh_window": 0,
        "topology_event_refresh_window": 0,
        "request_timeout": 5.0,
    }
    options.update(overrides)
    return CassandraConfig(**options)


def pinned_config(node: Node, **overrides: Any) -> CassandraConfig:
    """A session that talks to ``node`` only, its control connection included."""
    return CassandraConfig(
        contact_points=[node.contact_point],
        port=node.port,
        load_balancing_policy=WhiteListRoundRobinPolicy([node.address]),
        **overrides,
    )


async def eventually(condition: Callable[[], bool], *, within: float) -> bool:
    """Poll ``condition`` on the loop until it holds or ``within`` seconds pass."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def driver_host(session: AsyncSession, node: Node | RemoteNode) -> Any:
    """The driver's ``Host`` for ``node`` (None before the driver has learnt of it)."""
    for host in session.cluster.metadata.all_hosts():
        if host.address == node.address:
            return host
    return None


def host_is_up(session: AsyncSession, node: Node | RemoteNode) -> bool | None:
    host = driver_host(session, node)
    return None if host is None else host.is_up


async def driver_marks(
    session: AsyncSession, node: Node | RemoteNode, *, up: bool, within: float = 10.0
) -> bool:
    """Wait until the driver sees ``node`` up, or no longer up (down, or never connected to
    as with a remote node the load balancing ignores)."""

    def seen() -> bool:
        state = host_is_up(session, node)
        return state is True if up else state is not True

    return await eventually(seen, within=within)


async def create_keyspace(session: AsyncSession, name: str, replication: str) -> None:
    """``replication``: the map's CQL text, e.g. ``'dc1': 3, 'dc2': 2``."""
    strategy = (
        "SimpleStrategy" if "replication_factor" in replication else "NetworkTopologyStrategy"
    )
    await session.execute(
        f"CREATE KEYSPACE {name} WITH replication = {{'class': '{strategy}', {replication}}}"
    )
    await session.execute(f"CREATE TABLE {name}.kv (k int PRIMARY KEY, v int)")


def statement(query: str, level: int, **options: Any) -> SimpleStatement:
    return SimpleStatement(query, consistency_level=level, **options)


def routing_key(key: int) -> bytes:
    """The serialized partition key of ``key`` in a ``kv`` table (an int)."""
    data: bytes = Int32Type.serialize(key, 4)
    return data


def owners(session: AsyncSession, keyspace: str, key: int) -> list[str]:
    """Addresses of the replicas of ``key`` in ``keyspace``.kv, as the driver's token map has
    them (the token map is what token-aware routing follows)."""
    replicas = session.cluster.metadata.get_replicas(keyspace, routing_key(key))
    return [host.address for host in replicas]


ONE = ConsistencyLevel.ONE
QUORUM = ConsistencyLevel.QUORUM
LOCAL_ONE = ConsistencyLevel.LOCAL_ONE
LOCAL_QUORUM = ConsistencyLevel.LOCAL_QUORUM
