"""The check a cluster node makes before running a request it coordinates.

Cassandra's coordinator finds the replicas of every partition a statement touches and counts
the live ones against the consistency level. Two views of "live" matter, and they differ
while a failure detector has not yet caught up with a dead node:

- what the coordinator **believes** (its peers' gossip): too few replicas believed alive and
  the request is refused at once with ``Unavailable``, before anything runs;
- what is **true**: if enough replicas were believed alive but too few really are, they never
  answer, and the coordinator gives up after Cassandra's timeout with ``ReadTimeout`` or
  ``WriteTimeout`` (the statement is not applied).

Requests on system keyspaces are the node's own business and are never checked. While every
node is up the outcome depends only on the replication and the levels, so it is cached: a
healthy cluster's requests pay one dictionary lookup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from cassandra import ConsistencyLevel

from ..errors import CQLError, Invalid, ReadTimeout, Unavailable, WriteTimeout
from ..execution.binding import Plan, Values
from ..execution.selects import SelectPlan
from ..execution.store import Store, routing_key
from ..execution.writes import WritePlan
from .topology import Ring, Shortfall, paxos_shortfall, shortfall, token_of

if TYPE_CHECKING:
    from .cluster import CQLCluster, Node

__all__ = ["Coordinator"]

_SERIAL_LEVELS = (ConsistencyLevel.SERIAL, ConsistencyLevel.LOCAL_SERIAL)
#: write type of a timed-out batch, by its kind
_BATCH_WRITE_TYPES = {"LOGGED": "BATCH", "UNLOGGED": "UNLOGGED_BATCH", "COUNTER": "COUNTER"}

Statements = Sequence[tuple[Plan, Values]]


def _name(level: int) -> str:
    return str(ConsistencyLevel.value_to_name.get(level, level))


class Coordinator:
    """Called by a node's engine with the statements of each request, before they run."""

    def __init__(self, cluster: CQLCluster, node: Node, store: Store) -> None:
        self._cluster = cluster
        self._node = node
        self._store = store
        self._healthy: dict[tuple[object, ...], Shortfall | None] = {}
        self._generation = -1

    def __call__(
        self,
        statements: Statements,
        consistency: int,
        serial: int | None,
        batch_kind: str | None = None,
    ) -> None:
        table = statements[0][0].table
        if table is None:
            return
        keyspace = self._store.keyspaces.get(table.keyspace)
        if keyspace is None or keyspace.read_only:  # system keyspaces: the node's own
            return
        reading = isinstance(statements[0][0], SelectPlan)
        conditional = any(
            isinstance(plan, WritePlan) and plan.conditional for plan, _ in statements
        )
        paxos = _paxos_level(reading, conditional, consistency, serial)
        replication = keyspace.replication
        cluster = self._cluster
        if cluster.generation != self._generation:
            self._healthy.clear()
            self._generation = cluster.generation
        ring = cluster.ring
        if cluster.healthy:
            key = (tuple(replication.items()), consistency, paxos, reading)
            if key not in self._healthy:
                sets = ring.replica_sets(replication)
                states = [(replica.dc, True) for replica in sets[0]] if sets else []
                self._healthy[key] = self._shortfall(
                    states, replication, consistency, paxos, reading
                )
            found = self._healthy[key]
            if found is not None:
                raise _unavailable(found)
            return
        touched = _replica_sets(ring, replication, statements)
        believed = [
            [(r.dc, r.seen_up or r is self._node) for r in replicas] for replicas in touched
        ]
        for states in believed:
            found = self._shortfall(states, replication, consistency, paxos, reading)
            if found is not None:
                raise _unavailable(found)
        for replicas in touched:
            states = [(r.dc, r.reachable) for r in replicas]
            found = self._shortfall(states, replication, consistency, paxos, reading)
            if found is not None:
                raise self._timeout(found, reading, paxos, batch_kind)

    def _shortfall(
        self,
        states: Sequence[tuple[str, bool]],
        replication: Mapping[str, str],
        consistency: int,
        paxos: int | None,
        reading: bool,
    ) -> Shortfall | None:
        local_dc = self._node.dc
        if paxos is not None:
            found = paxos_shortfall(paxos, states, local_dc)
            if found is not None or reading or consistency == ConsistencyLevel.ANY:
                return found  # a serial read is the paxos round alone
        return shortfall(consistency, replication, states, local_dc)

    def _timeout(
        self, found: Shortfall, reading: bool, paxos: int | None, batch_kind: str | None
    ) -> CQLError:
        cluster = self._cluster
        if reading:
            return ReadTimeout(found.level, found.alive, found.required, cluster.read_timeout)
        if paxos is not None and found.level == paxos:
            write_type = "CAS"
        elif batch_kind is not None:
            write_type = _BATCH_WRITE_TYPES.get(batch_kind, "BATCH")
        else:
            write_type = "SIMPLE"
        return WriteTimeout(
            found.level, found.alive, found.required, write_type, cluster.write_timeout
        )


def _paxos_level(
    reading: bool, conditional: bool, consistency: int, serial: int | None
) -> int | None:
    """The serial level of the paxos round the request needs (None: none), validated as
    Cassandra validates it."""
    if reading:
        if consistency == ConsistencyLevel.ANY:
            raise Invalid("ANY ConsistencyLevel is only supported for writes")
        return consistency if consistency in _SERIAL_LEVELS else None
    if not conditional:
        if consistency in _SERIAL_LEVELS:
            raise Invalid("You must use conditional updates for serializable writes")
        return None
    level = ConsistencyLevel.SERIAL if serial is None else serial
    if level not in _SERIAL_LEVELS:
        raise Invalid(
            "Invalid consistency for conditional update. Must be one of SERIAL or LOCAL_SERIAL"
        )
    if consistency in _SERIAL_LEVELS:
        raise Invalid(
            f"{_name(consistency)} is not supported as conditional update commit consistency. "
            "Use ANY if you mean \"make sure it is accepted but I don't care how many replicas "
            'commit it for non-SERIAL reads"'
        )
    return level


def _unavailable(found: Shortfall) -> Unavailable:
    return Unavailable(found.message, found.level, found.required, found.alive)


def _replica_sets(
    ring: Ring[Node], replication: Mapping[str, str], statements: Statements
) -> list[tuple[Node, ...]]:
    """The distinct replica sets of the partitions the statements touch (every range of the
    ring for a read without a partition restriction)."""
    found: dict[tuple[Node, ...], None] = {}
    for plan, values in statements:
        keys = _partition_keys(plan, values)
        if keys is None:
            found.update(dict.fromkeys(ring.replica_sets(replication)))
            continue
        for key in keys:
            found[ring.replicas(replication, token_of(key))] = None
    return list(found)


def _partition_keys(plan: Plan, values: Values) -> list[bytes] | None:
    if isinstance(plan, WritePlan):
        return plan.partition_keys(values)
    if isinstance(plan, SelectPlan) and plan.where.partition and plan.table is not None:
        return [routing_key(parts) for parts in plan.where.partition_keys(values, plan.table)]
    return None
