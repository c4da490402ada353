"""Where each partition lives in a cluster, and what a consistency level asks of its replicas.

Tokens are Murmur3 tokens, as with Cassandra's default partitioner. Replica placement is the
driver's own ``SimpleStrategy`` / ``NetworkTopologyStrategy`` code, which mirrors Cassandra's
(rack-aware walk of the ring per data centre): the coordinating node and a token-aware client
therefore agree on every partition's replicas by construction, as they do against Cassandra.
The consistency arithmetic follows Cassandra 4.x ``ReplicaPlans.assureSufficientLiveReplicas``
and its paxos participant count.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from cassandra import ConsistencyLevel
from cassandra.metadata import Murmur3Token, ReplicationStrategy

__all__ = [
    "VNODES",
    "Ring",
    "Shortfall",
    "even_tokens",
    "paxos_shortfall",
    "replication_factors",
    "shortfall",
    "split_widest",
    "token_of",
]

#: Tokens per node: Cassandra 4.0's default ``num_tokens``.
VNODES = 16
_MIN = -(2**63)
_SPAN = 2**64
#: distance between the token sets of two data centres (tiny next to a range)
_DC_OFFSET = 2**20
_SIMPLE = "SimpleStrategy"
_TOPOLOGY = "NetworkTopologyStrategy"

M = TypeVar("M", bound=Hashable)


def even_tokens(nodes: int, vnodes: int = VNODES, offset: int = 0) -> list[list[int]]:
    """Tokens for ``nodes`` nodes, interleaved round the ring so each owns an equal share.

    Each data centre of a cluster gets its own set (``offset`` keeps the sets apart): with
    NetworkTopologyStrategy a node's share is of its own data centre's ring, as with the
    token allocation Cassandra recommends for several data centres.
    """
    if nodes < 1 or vnodes < 1:
        raise ValueError(f"need at least one node and one vnode, got {nodes} and {vnodes}")
    step = _SPAN // (nodes * vnodes)
    start = _MIN + step // 2 + offset * _DC_OFFSET
    return [[start + step * (v * nodes + n) for v in range(vnodes)] for n in range(nodes)]


def split_widest(tokens: Iterable[int], vnodes: int = VNODES) -> list[int]:
    """Tokens for a joining node: one in the middle of each of the widest ranges in turn."""
    ring = sorted(set(tokens))
    if not ring:
        return even_tokens(1, vnodes)[0]
    # (negated width, start) of every range, the last one wrapping round to the first token
    ranges = [
        (-((ring[(i + 1) % len(ring)] - ring[i]) % _SPAN or _SPAN), ring[i])
        for i in range(len(ring))
    ]
    heapq.heapify(ranges)
    chosen = []
    for _ in range(vnodes):
        width, start = heapq.heappop(ranges)
        half = -width // 2
        middle = _wrap(start + half)
        chosen.append(middle)
        heapq.heappush(ranges, (-half, start))
        heapq.heappush(ranges, (-(-width - half), middle))
    return sorted(chosen)


def _wrap(token: int) -> int:
    return (token - _MIN) % _SPAN + _MIN


def token_of(routing_key: bytes) -> int:
    """The Murmur3 token of a serialized partition key (Cassandra's and the driver's)."""
    value: int = Murmur3Token.hash_fn(routing_key)
    return value


class _Placed:
    """What the driver's replication strategies read from a host."""

    __slots__ = ("datacenter", "member", "rack")

    def __init__(self, member: Any, datacenter: str, rack: str) -> None:
        self.member = member
        self.datacenter = datacenter
        self.rack = rack


class Ring(Generic[M]):
    """The token ring of a set of members, with each keyspace's replicas per token range.

    Immutable: a topology change builds a new ring. Replica maps are computed once per
    replication setting and cached.
    """

    def __init__(self, seats: Iterable[tuple[M, str, str, Sequence[int]]]) -> None:
        """``seats``: (member, data centre, rack, tokens) for every member."""
        owner: dict[int, _Placed] = {}
        self.datacenters: dict[M, str] = {}
        for member, datacenter, rack, tokens in seats:
            placed = _Placed(member, datacenter, rack)
            self.datacenters[member] = datacenter
            for token in tokens:
                if token in owner:
                    raise ValueError(f"token {token} is owned twice")
                owner[token] = placed
        self._tokens = sorted(owner)
        self._ring = [Murmur3Token(token) for token in self._tokens]
        self._owner = {Murmur3Token(token): placed for token, placed in owner.items()}
        self._maps: dict[tuple[tuple[str, str], ...], list[tuple[M, ...]]] = {}

    @property
    def members(self) -> list[M]:
        return list(self.datacenters)

    def _replica_map(self, replication: Mapping[str, str]) -> list[tuple[M, ...]]:
        """Replicas of each token range, in ring order (range ``i`` ends at token ``i``)."""
        key = tuple(sorted(replication.items()))
        found = self._maps.get(key)
        if found is not None:
            return found
        options = dict(replication)
        strategy = ReplicationStrategy.create(options.pop("class", ""), options)
        by_token = (
            strategy.make_token_replica_map(self._owner, self._ring) if strategy is not None else {}
        )
        built = [tuple(host.member for host in by_token.get(token, ())) for token in self._ring]
        self._maps[key] = built
        return built

    def replicas(self, replication: Mapping[str, str], token: int) -> tuple[M, ...]:
        """The replicas of the partition with ``token``, in the order the strategy placed them."""
        ranges = self._replica_map(replication)
        if not ranges:
            return ()
        index = bisect_left(self._tokens, token)
        return ranges[index if index < len(ranges) else 0]

    def replica_sets(self, replication: Mapping[str, str]) -> list[tuple[M, ...]]:
        """Each distinct replica set of the ring (what a range read must reach)."""
        return list(dict.fromkeys(self._replica_map(replication)))

    def tokens(self) -> list[int]:
        return list(self._tokens)


def replication_factors(replication: Mapping[str, str]) -> tuple[int, dict[str, int] | None]:
    """(total replicas, replicas per data centre or None for SimpleStrategy) of a keyspace."""
    strategy = replication.get("class", "").rsplit(".", 1)[-1]
    if strategy == _SIMPLE:
        return _factor(replication.get("replication_factor", "0")), None
    if strategy == _TOPOLOGY:
        per_dc = {dc: _factor(value) for dc, value in replication.items() if dc != "class"}
        return sum(per_dc.values()), per_dc
    return 0, None


def _factor(value: str) -> int:
    """A replication factor, ``"3"`` or with transient replicas ``"3/1"``."""
    return int(value.split("/", 1)[0])


@dataclass(frozen=True, slots=True)
class Shortfall:
    """Too few live replicas: what Cassandra reports in its Unavailable error."""

    level: int
    required: int
    alive: int
    #: for EACH_QUORUM, the data centre that fell short
    datacenter: str | None = None

    @property
    def message(self) -> str:
        name = ConsistencyLevel.value_to_name[self.level]
        where = f" in DC {self.datacenter}" if self.datacenter is not None else ""
        return f"Cannot achieve consistency level {name}{where}"


_COUNTED = {ConsistencyLevel.ONE: 1, ConsistencyLevel.TWO: 2, ConsistencyLevel.THREE: 3}


def shortfall(
    level: int,
    replication: Mapping[str, str],
    replicas: Sequence[tuple[str, bool]],
    local_dc: str,
) -> Shortfall | None:
    """What a read or write at ``level`` lacks, or None when enough replicas are live.

    ``replicas`` holds (data centre, live) for each replica of the partition; ``local_dc`` is
    the coordinator's data centre. Serial levels are checked by ``paxos_shortfall``.
    """
    if level == ConsistencyLevel.ANY:
        return None  # a hint on the coordinator is enough
    total, per_dc = replication_factors(replication)
    if level in (ConsistencyLevel.LOCAL_ONE, ConsistencyLevel.LOCAL_QUORUM):
        if level == ConsistencyLevel.LOCAL_ONE:
            required = 1
        else:
            required = (per_dc.get(local_dc, 0) if per_dc is not None else total) // 2 + 1
        alive = sum(1 for dc, live in replicas if live and dc == local_dc)
        return Shortfall(level, required, alive) if alive < required else None
    if level == ConsistencyLevel.EACH_QUORUM and per_dc is not None:
        for dc, factor in per_dc.items():
            required = factor // 2 + 1
            alive = sum(1 for where, live in replicas if live and where == dc)
            if alive < required:
                return Shortfall(level, required, alive, dc)
        return None
    if level in _COUNTED:
        required = _COUNTED[level]
    elif level == ConsistencyLevel.ALL:
        required = total
    else:  # QUORUM, and EACH_QUORUM on SimpleStrategy
        required = total // 2 + 1
    alive = sum(1 for _, live in replicas if live)
    return Shortfall(level, required, alive) if alive < required else None


def paxos_shortfall(
    level: int, replicas: Sequence[tuple[str, bool]], local_dc: str
) -> Shortfall | None:
    """What a paxos round (an LWT, a SERIAL read) lacks: a majority of the placed replicas.

    LOCAL_SERIAL counts only the replicas in the coordinator's data centre.
    """
    if level == ConsistencyLevel.LOCAL_SERIAL:
        replicas = [(dc, live) for dc, live in replicas if dc == local_dc]
    required = len(replicas) // 2 + 1
    alive = sum(1 for _, live in replicas if live)
    return Shortfall(level, required, alive) if alive < required else None
