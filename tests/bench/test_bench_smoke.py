"""The bench runs end to end in a tiny configuration and reports every headline figure.

This never asserts how fast anything is: only that each section ran, measured something real
(finite, positive) and reported it under the documented keys.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
HEADLINE_RATIOS = ("execute_vs_raw_default", "execute_vs_raw_tuple", "execute_vs_executor")
#: Issue 16's: ours (loop mode, else thread mode) against the raw driver and the native clients.
NATIVE_RATIOS = (
    "execute_loop_vs_raw_tuple",
    "execute_loop_vs_raw_tuple_c10",
    "execute_vs_scyllapy",
    "execute_vs_acsylla",
    "http_vs_acsylla",
)
#: Each uvicorn process costs seconds of CPU to start: one loop-mode app stands for all three.
HTTP_APPS = (
    "example_http",
    "middleware_http",
    "traced_middleware_http",
    "sync_threadpool_http",
    "middleware_http_loop",
    "acsylla_http",
)
TINY = [
    "--levels", "10,500", "--rounds", "1", "--duration", "0.3", "--warmup", "0.1",
    "--keys", "50", "--stream-rows", "3000", "--fetch-size", "500", "--stream-rounds", "1",
    "--http-connections", "4", "--http-duration", "0.4", "--http-warmup", "0.2",
    "--http-rounds", "1", "--error-failures", "500", "--error-rounds", "1",
    "--http-apps", ",".join(HTTP_APPS),
    # wrk runs whole seconds; the load generators have a test of their own
    "--http-load", "python",
]  # fmt: skip


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, Path]:
    out = tmp_path_factory.mktemp("bench")
    json_path, plot_path = out / "bench.json", out / "bench.png"
    completed = subprocess.run(
        [sys.executable, "-m", "bench", *TINY, "--json", str(json_path), "--plot", str(plot_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return json.loads(json_path.read_text()), completed.stdout, plot_path


pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.mark.parametrize("key", HEADLINE_RATIOS)
def test_headline_ratio_is_a_finite_positive_number(
    bench_run: tuple[dict[str, Any], str, Path], key: str
) -> None:
    report, _, _ = bench_run
    assert _positive(report[key]), (key, report.get(key))
    assert report["ratio_level"] == 500


@pytest.mark.parametrize("key", NATIVE_RATIOS)
def test_native_client_ratio_is_measured_and_names_its_io_mode(
    bench_run: tuple[dict[str, Any], str, Path], key: str
) -> None:
    report, _, _ = bench_run
    assert _positive(report[key]), (key, report.get(key))
    assert report["headline_io"][key] in ("thread", "loop")


def test_ours_runs_in_loop_mode_or_says_why_not(
    bench_run: tuple[dict[str, Any], str, Path],
) -> None:
    report, _, _ = bench_run
    points, http = report["point_reads"], report["http"]
    for name in ("ours_loop", "ours_traced_loop"):
        assert (name in points["contenders"]) != (name in points["skipped"]), name
    assert ("middleware_http_loop" in http["apps"]) != ("middleware_http_loop" in http["skipped"])
    if "ours_loop" in points["skipped"]:
        assert report["headline_io"]["execute_loop_vs_raw_tuple"] == "thread"
        assert points["skipped"]["ours_loop"] in report["loop_io_fallback"]
    else:
        assert report["headline_io"]["execute_loop_vs_raw_tuple"] == "loop"
        assert report["loop_io_fallback"] is None


def test_stream_loop_stall_is_reported_in_milliseconds(
    bench_run: tuple[dict[str, Any], str, Path],
) -> None:
    report, _, _ = bench_run
    stall = report["stream_max_loop_stall_ms"]
    assert isinstance(stall, int | float)
    assert math.isfinite(stall)
    assert stall >= 0
    assert _positive(report["stream_rows_per_s"])
    assert _positive(report["driver_paging_rows_per_s"])


def test_every_baseline_contender_measured_each_level(
    bench_run: tuple[dict[str, Any], str, Path],
) -> None:
    report, _, _ = bench_run
    contenders = report["point_reads"]["contenders"]
    for name in ("raw_default", "raw_tuple", "ours", "executor", "scyllapy", "acsylla"):
        for level in ("10", "500"):
            row = contenders[name]["levels"][level]
            assert _positive(row["qps"]), (name, level, row)
            assert _positive(row["p50_ms"]), (name, level, row)
            assert _positive(row["p99_ms"]), (name, level, row)
            assert row["errors"] == 0, (name, level, row["first_error"])
            assert row["full_gcs_per_10k_queries"] >= 0, (name, level, row)
            assert row["longest_gc_pause_ms"] >= 0, (name, level, row)


def test_streaming_read_every_row_of_the_partition(
    bench_run: tuple[dict[str, Any], str, Path],
) -> None:
    report, _, _ = bench_run
    for name, row in report["stream"]["contenders"].items():
        assert row["rows"] == 3000, name
        assert _positive(row["rows_per_s"]), name
        assert _positive(row["peak_traced_memory_mb"]), name


def test_every_http_app_served_requests_without_errors(
    bench_run: tuple[dict[str, Any], str, Path],
) -> None:
    report, _, _ = bench_run
    apps = report["http"]["apps"]
    assert set(apps) | set(report["http"]["skipped"]) == set(HTTP_APPS)
    assert set(apps) >= set(HTTP_APPS) - {"middleware_http_loop"}
    for name, row in apps.items():
        assert _positive(row["rps"]), name
        assert _positive(row["p99_ms"]), name
        assert row["errors"] == 0, (name, row["first_error"])
    assert _positive(report["http_vs_sync_threadpool"])
    assert _positive(report["http_middleware_vs_sync_threadpool"])
    assert _positive(report["http_traced_vs_untraced"])


def test_table_prints_a_verdict_for_every_target(
    bench_run: tuple[dict[str, Any], str, Path],
) -> None:
    report, table, _ = bench_run
    verdicts = {target["key"]: target["result"] for target in report["targets"]}
    assert set(verdicts) >= {*HEADLINE_RATIOS, "stream_max_loop_stall_ms"}
    assert set(verdicts.values()) <= {"PASS", "MISS"}
    for key, verdict in verdicts.items():
        assert any(key in line and verdict in line for line in table.splitlines()), key


def test_plot_is_a_png(bench_run: tuple[dict[str, Any], str, Path]) -> None:
    _, _, plot_path = bench_run
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_error_storm_reports_its_loop_stall_and_gc(
    bench_run: tuple[dict[str, Any], str, Path],
) -> None:
    report, table, _ = bench_run
    storm = report["error_storm"]
    assert _positive(storm["failures_per_s"])
    assert storm["max_loop_stall_ms"] >= 0
    assert storm["full_gcs_per_10k_failures"] >= 0
    assert "Error storm: 500 failing requests per round" in table
