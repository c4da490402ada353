"""One CQL script, expected results spelled out, run on the in-memory server and, when
``CASSANDRA_CONTACT_POINTS`` is set, on the real cluster too, comparing the two."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cassandra.cluster import Cluster
from cassandra.query import SimpleStatement

from cassandra_asgi.config import CassandraConfig
from cassandra_asgi.testing import CQLServer
from cassandra_asgi.testing.pytest_plugin import driver_cluster_kwargs, real_cluster_requested

# (statement, expected rows or None for statements whose result is not checked)
SCRIPT: list[tuple[str, list[tuple[Any, ...]] | None]] = [
    (
        "CREATE TABLE {ks}.scores (player text, game int, at int, score int, tags set<text>, "
        "PRIMARY KEY ((player, game), at)) WITH CLUSTERING ORDER BY (at DESC)",
        None,
    ),
    ("INSERT INTO {ks}.scores (player, game, at, score) VALUES ('ann', 1, 1, 10)", None),
    ("INSERT INTO {ks}.scores (player, game, at, score) VALUES ('ann', 1, 2, 20)", None),
    ("INSERT INTO {ks}.scores (player, game, at, score) VALUES ('ann', 1, 3, 30)", None),
    ("INSERT INTO {ks}.scores (player, game, at, score) VALUES ('bob', 1, 1, 5)", None),
    ("INSERT INTO {ks}.scores (player, game, at, score) VALUES ('bob', 2, 1, 7)", None),
    (
        "SELECT at, score FROM {ks}.scores WHERE player = 'ann' AND game = 1",
        [(3, 30), (2, 20), (1, 10)],
    ),
    (
        "SELECT at FROM {ks}.scores WHERE player = 'ann' AND game = 1 AND at >= 2 ORDER BY at ASC",
        [(2,), (3,)],
    ),
    (
        "SELECT at FROM {ks}.scores WHERE player = 'ann' AND game = 1 AND at < 3 LIMIT 1",
        [(2,)],
    ),
    ("SELECT COUNT(*) FROM {ks}.scores", [(5,)]),
    (
        "UPDATE {ks}.scores SET tags = tags + {{'x', 'a'}} WHERE player = 'bob' AND game = 1 "
        "AND at = 1",
        None,
    ),
    (
        "SELECT tags FROM {ks}.scores WHERE player = 'bob' AND game = 1 AND at = 1",
        [(["a", "x"],)],
    ),
    (
        "INSERT INTO {ks}.scores (player, game, at, score) VALUES ('bob', 2, 1, 99) IF NOT EXISTS",
        [(False, "bob", 2, 1, 7, None)],
    ),
    (
        "UPDATE {ks}.scores SET score = 8 WHERE player = 'bob' AND game = 2 AND at = 1 "
        "IF score = 7",
        [(True,)],
    ),
    (
        "UPDATE {ks}.scores SET score = 9 WHERE player = 'bob' AND game = 2 AND at = 1 "
        "IF score = 7",
        [(False, 8)],
    ),
    ("DELETE FROM {ks}.scores WHERE player = 'ann' AND game = 1 AND at > 1", None),
    ("SELECT at FROM {ks}.scores WHERE player = 'ann' AND game = 1", [(1,)]),
    ("SELECT player, game, at FROM {ks}.scores", None),  # token order: compared across targets
    ("TRUNCATE {ks}.scores", None),
    ("SELECT * FROM {ks}.scores", []),
]


def _plain(value: Any) -> Any:
    if isinstance(value, set | frozenset) or type(value).__name__ == "SortedSet":
        return sorted(value)
    return value


def run_script(config: CassandraConfig, keyspace: str) -> list[list[tuple[Any, ...]]]:
    cluster = Cluster(**driver_cluster_kwargs(config))
    try:
        session = cluster.connect()
        outputs = []
        for text, _expected in SCRIPT:
            statement = SimpleStatement(text.format(ks=keyspace), fetch_size=2)
            rows = session.execute(statement, timeout=60)
            outputs.append([tuple(_plain(v) for v in row) for row in rows])
        return outputs
    finally:
        cluster.shutdown()


def _check_expectations(outputs: list[list[tuple[Any, ...]]]) -> None:
    for (text, expected), actual in zip(SCRIPT, outputs, strict=True):
        if expected is not None:
            assert actual == expected, text


def test_script_gives_the_expected_results(
    cassandra_config: CassandraConfig, keyspace: str
) -> None:
    """Against the in-memory server by default, against the real cluster when configured."""
    _check_expectations(run_script(cassandra_config, keyspace))


@pytest.fixture
def in_memory_config() -> Iterator[CassandraConfig]:
    with CQLServer() as server:
        yield CassandraConfig(contact_points=(server.host,), port=server.port)


def _fresh_keyspace(config: CassandraConfig, name: str) -> None:
    cluster = Cluster(**driver_cluster_kwargs(config))
    try:
        cluster.connect().execute(
            f"CREATE KEYSPACE {name} WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}",
            timeout=60,
        )
    finally:
        cluster.shutdown()


@pytest.mark.skipif(not real_cluster_requested(), reason="CASSANDRA_CONTACT_POINTS is not set")
def test_in_memory_server_matches_the_real_cluster(
    cassandra_config: CassandraConfig, keyspace: str, in_memory_config: CassandraConfig
) -> None:
    _fresh_keyspace(in_memory_config, keyspace)
    real = run_script(cassandra_config, keyspace)
    memory = run_script(in_memory_config, keyspace)
    assert memory == real
