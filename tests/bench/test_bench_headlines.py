"""The issue-16 headline ratios: which contenders each compares, at which level, in which mode.

Built from hand-made medians, so every figure here is known exactly; the smoke test checks that
a real run fills the same keys.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench.http_e2e import HttpResults, HttpSummary
from bench.iomode import NO_IO_OPTION
from bench.point_reads import LevelSummary, PointReadResults, RoundSummary
from bench.report import TARGET_BY_KEY, build_report, format_table, json_safe

META = {
    "mode": "quick",
    "target": "nowhere",
    "python": "3.11",
    "driver": "3.30",
    "cpus": 2,
    "started_utc": "2026-01-01T00:00:00Z",
}


def _level(*rates: float, cpu_us: float = 50.0) -> LevelSummary:
    return LevelSummary(
        [
            RoundSummary(
                rate=rate,
                p50_ms=1.0,
                p99_ms=2.0,
                completed=1000,
                errors=0,
                first_error=None,
                client_cpu_us=cpu_us,
                server_cpu_us=10.0,
                full_gcs_per_10k=0.0,
                longest_gc_ms=0.0,
            )
            for rate in rates
        ]
    )


def _points(
    by_contender: dict[str, dict[int, LevelSummary]], skipped: dict[str, str] | None = None
) -> PointReadResults:
    return PointReadResults(
        levels=[10, 500],
        descriptions={name: name for name in by_contender},
        skipped=dict(skipped or {}),
        by_contender=by_contender,
    )


def _report(points: PointReadResults | None, http: HttpResults | None = None) -> dict[str, Any]:
    return json_safe(build_report(dict(META), points, None, http))  # type: ignore[no-any-return]


def _http(**rps: float) -> HttpResults:
    results = HttpResults(connections=64)
    for name, value in rps.items():
        rounds = [{"rps": value, "p50_ms": 1.0, "p99_ms": 2.0, "errors": 0}]
        results.by_app[name] = HttpSummary(name, rounds)
        results.io[name] = "loop" if name.endswith("_loop") else "thread"
    return results


def test_loop_ratios_compare_ours_loop_with_raw_tuple_at_500_and_at_10_in_flight() -> None:
    report = _report(
        _points(
            {
                "raw_tuple": {10: _level(1000.0), 500: _level(2000.0)},
                "ours": {10: _level(500.0), 500: _level(1000.0)},
                "ours_loop": {10: _level(900.0), 500: _level(2600.0)},
            }
        )
    )
    assert report["execute_loop_vs_raw_tuple"] == pytest.approx(1.3)
    assert report["execute_loop_vs_raw_tuple_c10"] == pytest.approx(0.9)
    assert report["headline_io"]["execute_loop_vs_raw_tuple"] == "loop"
    assert report["headline_io"]["execute_loop_vs_raw_tuple_c10"] == "loop"
    assert report["loop_io_fallback"] is None


def test_loop_ratios_fall_back_to_thread_mode_and_say_why() -> None:
    report = _report(
        _points(
            {
                "raw_tuple": {10: _level(1000.0), 500: _level(2000.0)},
                "ours": {10: _level(600.0), 500: _level(2400.0)},
            },
            skipped={"ours_loop": NO_IO_OPTION},
        )
    )
    assert report["execute_loop_vs_raw_tuple"] == pytest.approx(1.2)
    assert report["execute_loop_vs_raw_tuple_c10"] == pytest.approx(0.6)
    assert report["headline_io"]["execute_loop_vs_raw_tuple"] == "thread"
    assert NO_IO_OPTION in report["loop_io_fallback"]
    assert "thread mode" in report["loop_io_fallback"]


def test_loop_ratio_has_a_per_round_form_and_a_cpu_form() -> None:
    report = _report(
        _points(
            {
                "raw_tuple": {500: _level(1000.0, 1000.0, 1500.0, cpu_us=60.0)},
                "ours_loop": {500: _level(1200.0, 1300.0, 1500.0, cpu_us=40.0)},
            }
        )
    )
    assert report["execute_loop_vs_raw_tuple"] == pytest.approx(1.3)  # 1300 / 1000 (medians)
    assert report["execute_loop_vs_raw_tuple_paired"] == pytest.approx(1.2)  # of 1.2, 1.3, 1.0
    assert report["execute_loop_cpu_advantage_vs_raw_tuple"] == pytest.approx(1.5)


def test_native_client_ratios_take_ours_in_its_faster_mode() -> None:
    report = _report(
        _points(
            {
                "ours": {500: _level(800.0)},
                "ours_loop": {500: _level(1000.0)},
                "scyllapy": {500: _level(2000.0)},
                "acsylla": {500: _level(4000.0)},
            }
        )
    )
    assert report["execute_vs_scyllapy"] == pytest.approx(0.5)
    assert report["execute_vs_acsylla"] == pytest.approx(0.25)
    assert report["headline_io"]["execute_vs_scyllapy"] == "loop"
    assert report["headline_io"]["execute_vs_acsylla"] == "loop"


def test_native_client_ratios_use_thread_mode_when_it_is_faster() -> None:
    report = _report(
        _points(
            {
                "ours": {500: _level(1500.0)},
                "ours_loop": {500: _level(1000.0)},
                "scyllapy": {500: _level(1000.0)},
            }
        )
    )
    assert report["execute_vs_scyllapy"] == pytest.approx(1.5)
    assert report["headline_io"]["execute_vs_scyllapy"] == "thread"


def test_a_ratio_against_a_skipped_native_client_is_null_and_missing() -> None:
    report = _report(
        _points({"ours": {500: _level(1000.0)}}, skipped={"acsylla": "acsylla is not installed"})
    )
    assert report["execute_vs_acsylla"] is None
    assert report["execute_vs_scyllapy"] is None
    verdicts = {target["key"]: target["result"] for target in report["targets"]}
    assert verdicts["execute_vs_scyllapy"] == "MISSING"


def test_http_vs_acsylla_takes_ours_middleware_app_in_its_faster_mode() -> None:
    report = _report(
        None, _http(middleware_http=900.0, middleware_http_loop=950.0, acsylla_http=1000.0)
    )
    assert report["http_vs_acsylla"] == pytest.approx(0.95)
    assert report["http_vs_acsylla_app"] == "middleware_http_loop"
    assert report["headline_io"] == {"http_vs_acsylla": "loop"}


def test_http_vs_acsylla_in_thread_mode_when_the_loop_apps_were_skipped() -> None:
    http = _http(middleware_http=900.0, acsylla_http=1000.0)
    http.skipped["middleware_http_loop"] = NO_IO_OPTION
    report = _report(None, http)
    assert report["http_vs_acsylla"] == pytest.approx(0.9)
    assert report["headline_io"] == {"http_vs_acsylla": "thread"}
    assert report["http"]["skipped"] == {"middleware_http_loop": NO_IO_OPTION}


def test_both_sections_contribute_their_modes_to_headline_io() -> None:
    report = _report(
        _points({"ours": {500: _level(1.0)}, "raw_tuple": {500: _level(1.0)}}),
        _http(middleware_http=1.0, acsylla_http=1.0),
    )
    assert set(report["headline_io"]) == {
        "execute_loop_vs_raw_tuple",
        "execute_loop_vs_raw_tuple_c10",
        "execute_vs_scyllapy",
        "execute_vs_acsylla",
        "http_vs_acsylla",
    }


@pytest.mark.parametrize(
    ("key", "goal"),
    [
        ("execute_loop_vs_raw_tuple", 1.3),
        ("execute_loop_vs_raw_tuple_c10", 1.0),
        ("execute_vs_scyllapy", 1.0),
        ("http_vs_acsylla", 0.9),
    ],
)
def test_issue_16_targets_are_lower_bounds(key: str, goal: float) -> None:
    target = TARGET_BY_KEY[key]
    assert target.check(goal) == "PASS"
    assert target.check(goal - 0.01) == "MISS"


def test_acsylla_point_read_ratio_is_printed_without_a_target() -> None:
    report = _report(_points({"ours": {500: _level(1000.0)}, "acsylla": {500: _level(4000.0)}}))
    assert "execute_vs_acsylla" not in TARGET_BY_KEY
    [line] = [line for line in format_table(report).splitlines() if "execute_vs_acsylla" in line]
    assert "0.25" in line
    assert "no target" in line
    assert "[ours io=thread]" in line


def test_the_table_says_when_loop_ratios_were_computed_in_thread_mode() -> None:
    report = _report(_points({"ours": {500: _level(1.0)}}, skipped={"ours_loop": NO_IO_OPTION}))
    table = format_table(report)
    [line] = [line for line in table.splitlines() if "execute_loop_vs_raw_tuple " in line]
    assert "[ours io=thread]" in line
    assert f"ours_loop not measured ({NO_IO_OPTION})" in table
