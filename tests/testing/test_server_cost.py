"""The server-cost benchmark runs end to end (its figures are reported, not asserted)."""

from __future__ import annotations

import pytest

from bench.server_cost import measure

pytestmark = pytest.mark.memory_only


def test_server_cost_measures_both_processes() -> None:
    result = measure(queries=300, concurrency=20, keys=50)
    assert result["queries"] == 300
    assert result["server_cpu_per_query_s"] > 0
    assert result["client_cpu_per_query_s"] > 0
    assert result["ratio"] == pytest.approx(
        result["server_cpu_per_query_s"] / result["client_cpu_per_query_s"]
    )


def test_server_cost_can_be_measured_at_protocol_v5() -> None:
    result = measure(queries=300, concurrency=20, keys=50, protocol_version=5)
    assert result["protocol_version"] == 5
    assert result["client_cpu_per_query_s"] > 0


@pytest.mark.parametrize("version", [4, 5])
def test_server_cost_can_drive_the_server_with_the_raw_pipelined_client(version: int) -> None:
    result = measure(queries=400, concurrency=20, keys=50, protocol_version=version, raw=True)
    assert result["queries"] == 400
    assert result["protocol_version"] == version
