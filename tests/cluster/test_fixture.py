"""The ``cql_cluster`` fixture and its marker, used the way application tests use them."""

from __future__ import annotations

from pathlib import Path

import pytest

from cassandra_asgi.testing import CQLCluster

pytest_plugins = ["pytester"]


@pytest.mark.memory_only
def test_without_a_marker_the_fixture_is_three_nodes_in_datacenter1(
    cql_cluster: CQLCluster,
) -> None:
    assert [(node.address, node.dc) for node in cql_cluster.nodes] == [
        (f"127.0.0.{i}", "datacenter1") for i in (1, 2, 3)
    ]


@pytest.mark.memory_only
@pytest.mark.cql_cluster({"dc1": 2, "dc2": 1}, detection_delay=1.5, racks=2)
def test_the_marker_chooses_the_shape_and_the_options(cql_cluster: CQLCluster) -> None:
    assert [(node.dc, node.rack) for node in cql_cluster.nodes] == [
        ("dc1", "rack1"),
        ("dc1", "rack2"),
        ("dc2", "rack1"),
    ]
    assert cql_cluster.detection_delay == 1.5


CLUSTER_TESTS = """
from pathlib import Path

import pytest

@pytest.mark.memory_only
def test_breaks_a_node(cql_cluster):
    cql_cluster.nodes[0].kill()

def test_reads_contact_points(cql_cluster):
    assert len(cql_cluster.contact_points) >= 2
"""


def test_against_one_real_node_every_cluster_test_is_skipped(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(CLUSTER_TESTS)
    monkeypatch.setenv("CASSANDRA_CONTACT_POINTS", "127.0.0.1")
    result = pytester.runpytest("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*needs a multi-node cluster*"])


def test_against_several_real_nodes_only_tests_that_break_none_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(CLUSTER_TESTS)
    monkeypatch.setenv("CASSANDRA_CONTACT_POINTS", "127.0.0.1,127.0.0.2:9043")  # not dialled
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=1)


def test_the_readme_cluster_example_passes_under_pytest(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The example kills a node, so it is memory_only: run it on its in-memory cluster even
    # when this run targets a real one (it would only be skipped there).
    monkeypatch.delenv("CASSANDRA_CONTACT_POINTS", raising=False)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Running against a cluster", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    pytester.makepyfile(test_from_readme=code)
    result = pytester.runpytest("-p", "no:cacheprovider", "-o", "asyncio_mode=auto")
    result.assert_outcomes(passed=1)
