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


def test_the_version_ratio_is_the_median_of_the_ratios_of_each_round() -> None:
    from bench.server_cost import _median

    def run(cpu: float) -> dict[str, float]:
        return {"server_cpu_per_query_s": cpu, "queries": 10.0}

    v4 = [run(10.0), run(20.0), run(40.0)]
    v5 = [run(11.0), run(30.0), run(41.0)]  # each round against its own v4 half
    merged = _median(v5, v4)
    assert merged["server_cpu_vs_first"] == pytest.approx(1.1)  # of 1.1, 1.5 and 1.025
    assert merged["server_cpu_vs_first_round_2"] == pytest.approx(1.5)
    assert merged["server_cpu_per_query_s"] == 30.0
    assert merged["rounds"] == 3
