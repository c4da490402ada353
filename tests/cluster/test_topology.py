"""The ring and the consistency arithmetic on their own: tokens, placement, required / alive.

These are the rules the cluster's coordinators apply (the end-to-end tests drive them through
the real driver); here each is pinned against Cassandra's own numbers.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
from cassandra import ConsistencyLevel as CL

from cassandra_asgi.testing.cluster.topology import (
    Ring,
    Shortfall,
    even_tokens,
    paxos_shortfall,
    shortfall,
    split_widest,
    token_of,
)

SIMPLE3 = {"class": "org.apache.cassandra.locator.SimpleStrategy", "replication_factor": "3"}
NTS = {"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", "dc1": "3", "dc2": "2"}
SPAN = 2**64


def ownership(tokens: dict[str, list[int]]) -> dict[str, float]:
    """Share of the ring each member owns (range ``(previous token, token]``)."""
    ring = sorted((token, member) for member, owned in tokens.items() for token in owned)
    shares: Counter[str] = Counter()
    for index, (token, member) in enumerate(ring):
        shares[member] += (token - ring[index - 1][0]) % SPAN
    return {member: share / SPAN for member, share in shares.items()}


def five_node_ring() -> Ring[str]:
    dc1, dc2 = even_tokens(3, 16, 0), even_tokens(2, 16, 1)
    return Ring(
        [(f"a{i}", "dc1", "rack1", dc1[i]) for i in range(3)]
        + [(f"b{i}", "dc2", "rack1", dc2[i]) for i in range(2)]
    )


def test_even_tokens_give_every_node_the_same_share_of_the_ring() -> None:
    tokens = even_tokens(5, 16)
    shares = ownership({f"n{i}": tokens[i] for i in range(5)})
    assert all(abs(share - 0.2) < 1e-9 for share in shares.values()), shares
    assert all(len(owned) == 16 for owned in tokens)


def test_each_data_centre_splits_its_own_ring_evenly_under_network_topology_strategy() -> None:
    ring = five_node_ring()
    one_per_dc = {**NTS, "dc1": "1", "dc2": "1"}
    owners: Counter[tuple[str, ...]] = Counter()
    for _ in range(20_000):
        owners[ring.replicas(one_per_dc, token_of(os.urandom(8)))] += 1
    by_dc1 = Counter({member: 0 for member in ("a0", "a1", "a2")})
    for replicas, count in owners.items():
        by_dc1[replicas[0]] += count
    assert all(abs(count / 20_000 - 1 / 3) < 0.03 for count in by_dc1.values()), by_dc1


def test_a_joining_node_takes_the_middle_of_the_widest_ranges() -> None:
    existing = even_tokens(3, 4)
    joined = split_widest([t for owned in existing for t in owned], 4)
    assert len(set(joined)) == 4
    assert not set(joined) & {t for owned in existing for t in owned}
    shares = ownership({**{f"n{i}": existing[i] for i in range(3)}, "new": joined})
    assert shares["new"] == pytest.approx(1 / 6, rel=1e-6)  # half of four of twelve ranges


def test_replicas_follow_the_ring_and_network_topology_strategy_counts_per_dc() -> None:
    ring = five_node_ring()
    for _ in range(200):
        replicas = ring.replicas(NTS, token_of(os.urandom(8)))
        datacenters = Counter(ring.datacenters[member] for member in replicas)
        assert datacenters == {"dc1": 3, "dc2": 2}
        simple = ring.replicas(SIMPLE3, token_of(os.urandom(8)))
        assert len(set(simple)) == 3


def test_a_token_past_the_last_wraps_to_the_first_range() -> None:
    ring = five_node_ring()
    last = max(ring.tokens())
    assert ring.replicas(SIMPLE3, last + 1) == ring.replicas(SIMPLE3, min(ring.tokens()))


def test_a_token_owned_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="owned twice"):
        Ring([("a", "dc1", "r1", [1, 2]), ("b", "dc1", "r1", [2])])


def live(*states: str) -> list[tuple[str, bool]]:
    """``live("dc1+", "dc1-")``: a replica per argument, ``+`` up and ``-`` down."""
    return [(state[:-1], state.endswith("+")) for state in states]


@pytest.mark.parametrize(
    ("level", "replicas", "expected"),
    [
        (CL.ONE, live("dc1-", "dc1-", "dc1+"), None),
        (CL.ONE, live("dc1-", "dc1-", "dc1-"), Shortfall(CL.ONE, 1, 0)),
        (CL.TWO, live("dc1-", "dc1+", "dc1+"), None),
        (CL.THREE, live("dc1-", "dc1+", "dc1+"), Shortfall(CL.THREE, 3, 2)),
        (CL.QUORUM, live("dc1-", "dc1+", "dc1+"), None),
        (CL.QUORUM, live("dc1-", "dc1-", "dc1+"), Shortfall(CL.QUORUM, 2, 1)),
        (CL.ALL, live("dc1-", "dc1+", "dc1+"), Shortfall(CL.ALL, 3, 2)),
        (CL.ANY, live("dc1-", "dc1-", "dc1-"), None),
    ],
)
def test_simple_strategy_levels_count_every_replica(
    level: int, replicas: list[tuple[str, bool]], expected: Shortfall | None
) -> None:
    assert shortfall(level, SIMPLE3, replicas, "dc1") == expected


#: NetworkTopologyStrategy dc1: 3, dc2: 2; the coordinator is in dc1
FIVE_UP = live("dc1+", "dc1+", "dc1+", "dc2+", "dc2+")
DC2_DOWN = live("dc1+", "dc1+", "dc1+", "dc2-", "dc2-")
DC1_HALF = live("dc1+", "dc1-", "dc1-", "dc2+", "dc2+")


@pytest.mark.parametrize(
    ("level", "replicas", "expected"),
    [
        (CL.LOCAL_QUORUM, DC2_DOWN, None),
        (CL.LOCAL_QUORUM, DC1_HALF, Shortfall(CL.LOCAL_QUORUM, 2, 1)),
        (CL.LOCAL_ONE, live("dc1-", "dc1-", "dc1-", "dc2+", "dc2+"), Shortfall(CL.LOCAL_ONE, 1, 0)),
        (CL.ONE, live("dc1-", "dc1-", "dc1-", "dc2+", "dc2+"), None),
        (CL.QUORUM, DC2_DOWN, None),  # 3 of 5
        (CL.QUORUM, DC1_HALF, None),  # 3 of 5, whatever the DC
        (CL.QUORUM, live("dc1+", "dc1-", "dc1-", "dc2+", "dc2-"), Shortfall(CL.QUORUM, 3, 2)),
        (CL.EACH_QUORUM, FIVE_UP, None),
        (CL.EACH_QUORUM, DC2_DOWN, Shortfall(CL.EACH_QUORUM, 2, 0, "dc2")),
        (CL.EACH_QUORUM, DC1_HALF, Shortfall(CL.EACH_QUORUM, 2, 1, "dc1")),
        (CL.ALL, DC2_DOWN, Shortfall(CL.ALL, 5, 3)),
    ],
)
def test_network_topology_levels_count_per_data_centre(
    level: int, replicas: list[tuple[str, bool]], expected: Shortfall | None
) -> None:
    assert shortfall(level, NTS, replicas, "dc1") == expected


def test_local_quorum_in_a_data_centre_without_replicas_needs_one_it_cannot_have() -> None:
    # Cassandra: a DC absent from the replication map has RF 0, so quorum 0 / 2 + 1 = 1.
    found = shortfall(CL.LOCAL_QUORUM, NTS, FIVE_UP, "dc3")
    assert found == Shortfall(CL.LOCAL_QUORUM, 1, 0)


def test_paxos_needs_a_majority_of_all_replicas_or_of_the_local_ones() -> None:
    assert paxos_shortfall(CL.SERIAL, DC2_DOWN, "dc1") is None  # 3 of 5
    assert paxos_shortfall(CL.SERIAL, DC1_HALF, "dc1") is None  # 3 of 5
    assert paxos_shortfall(CL.LOCAL_SERIAL, DC1_HALF, "dc1") == Shortfall(CL.LOCAL_SERIAL, 2, 1)
    assert paxos_shortfall(CL.LOCAL_SERIAL, DC2_DOWN, "dc1") is None
    no_quorum = live("dc1+", "dc1-", "dc1-", "dc2+", "dc2-")
    assert paxos_shortfall(CL.SERIAL, no_quorum, "dc1") == Shortfall(CL.SERIAL, 3, 2)


def test_the_message_is_cassandras() -> None:
    assert Shortfall(CL.QUORUM, 2, 1).message == "Cannot achieve consistency level QUORUM"
    assert (
        Shortfall(CL.EACH_QUORUM, 2, 0, "dc2").message
        == "Cannot achieve consistency level EACH_QUORUM in DC dc2"
    )
