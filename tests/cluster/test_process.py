"""A cluster in a child process (``python -m cassandra_asgi.testing.cluster``), driven from here."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from cassandra_asgi import connect
from cassandra_asgi.testing.cluster.__main__ import parse_nodes
from cassandra_asgi.testing.cluster.process import ClusterProcess

from .conftest import cluster_config, driver_marks


@pytest.mark.memory_only
async def test_a_cluster_process_is_discovered_and_broken_like_an_in_process_one(
    cql_cluster: Any,  # requested only so that a real-cluster run skips this test
) -> None:
    with ClusterProcess({"dc1": 2, "dc2": 1}, up_delay=0.1) as cluster:
        assert [(n.address, n.dc) for n in cluster.nodes] == [
            ("127.0.0.1", "dc1"),
            ("127.0.0.2", "dc1"),
            ("127.0.0.3", "dc2"),
        ]
        async with connect(cluster_config(cluster, local_dc="dc1")) as session:
            hosts = {h.address: h.datacenter for h in session.cluster.metadata.all_hosts()}
            assert hosts == {"127.0.0.1": "dc1", "127.0.0.2": "dc1", "127.0.0.3": "dc2"}
            victim = cluster.node("127.0.0.2")
            victim.kill()
            assert await driver_marks(session, victim, up=False)
            victim.come_up()
            assert await driver_marks(session, victim, up=True)
            joined = cluster.add_node(dc="dc2")
            assert joined.address == "127.0.0.4"
            assert cluster.contact_points[-1] == f"127.0.0.4:{cluster.port}"
        with pytest.raises(RuntimeError, match="unknown node call 'explode'"):
            victim._call("explode")
        with pytest.raises(KeyError, match=r"127\.0\.0\.9"):
            cluster.node("127.0.0.9")


def test_the_node_shape_is_a_count_or_a_list_of_data_centres() -> None:
    assert parse_nodes("3") == 3
    assert parse_nodes("dc1:3,dc2:2") == {"dc1": 3, "dc2": 2}
    with pytest.raises(ValueError, match="DC:COUNT"):
        parse_nodes("dc1=3")


def test_a_malformed_shape_is_refused_on_the_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cassandra_asgi.testing.cluster", "--nodes", "dc1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "DC:COUNT" in result.stderr
