"""``python -m bench.cluster`` runs end to end in a tiny configuration and reports every figure.

As for the other bench smoke tests, nothing here asserts a speed: only that each figure was
measured (finite, positive) and reported under its documented key.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.memory_only
def test_the_cluster_bench_reports_startup_and_slow_replica_latencies() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.cluster", "--reads", "200", "--slow-ms", "20", "--json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    figures = json.loads(completed.stdout)
    assert figures["start_5_nodes_s"] > 0
    for run in ("healthy", "slow_node", "slow_node_speculative"):
        for key in ("p50_ms", "p99_ms", "max_ms"):
            value = figures[run][key]
            assert math.isfinite(value), (run, key)
            assert value > 0, (run, key)
