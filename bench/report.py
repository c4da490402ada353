"""Turning measurements into the JSON document, the targets and the printed table.

Ratios are taken between medians measured in the same run; a ratio that cannot be computed
(contender skipped, section not run) is ``null`` in the JSON and MISSING in the table, never a
made-up number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bench.error_storm import ErrorStormResults
from bench.http_e2e import HttpResults
from bench.point_reads import PointReadResults
from bench.stats import ratio
from bench.streaming import StreamResults

__all__ = ["Target", "build_report", "format_table", "json_safe"]

RATIO_LEVEL = 500
#: The low-concurrency level of ``execute_loop_vs_raw_tuple_c10``.
LOW_LEVEL = 10
BASELINE = "raw_default"
OURS, LOOP = "ours", "ours_loop"


@dataclass(frozen=True)
class Target:
    key: str
    goal: float
    at_least: bool
    text: str

    def check(self, value: float | None) -> str:
        if value is None or not math.isfinite(value):
            return "MISSING"
        passed = value >= self.goal if self.at_least else value <= self.goal
        return "PASS" if passed else "MISS"


TARGETS = (
    Target("execute_vs_raw_default", 1.3, True, "ours >= 1.3x raw driver (default rows)"),
    Target("execute_vs_raw_tuple", 0.8, True, "ours >= 0.8x raw driver (tuple_factory)"),
    Target("execute_vs_executor", 2.0, True, "ours >= 2x run_in_executor(session.execute)"),
    Target(
        "execute_loop_vs_raw_tuple", 1.3, True, "ours, io=loop >= 1.3x raw driver (tuple_factory)"
    ),
    Target("execute_loop_vs_raw_tuple_c10", 1.0, True, "the same at 10 in flight: >= 1x raw tuple"),
    Target("execute_vs_scyllapy", 1.0, True, "ours (best I/O mode) >= scyllapy (Rust driver)"),
    Target("execute_vs_ours_traced", 1 / 0.9, False, "point reads: SDK tracing costs < 10%"),
    Target("http_traced_vs_untraced", 0.9, True, "HTTP: SDK tracing costs < 10% requests/s"),
    Target("http_vs_acsylla", 0.9, True, "HTTP: ours (best I/O mode) >= 0.9x the acsylla app"),
    Target("stream_vs_driver_paging", 0.9, True, "stream >= 0.9x driver paging in a thread"),
    Target("stream_max_loop_stall_ms", 10.0, False, "stream: no loop stall over 10 ms"),
)

TARGET_BY_KEY = {target.key: target for target in TARGETS}


def _compare(
    points: PointReadResults, ours: str, other: str, level: int, key: str
) -> dict[str, float]:
    """``key`` (ours / other q/s), its per-round median and the CPU form of the same ratio."""
    mine, theirs = points.summary(ours, level), points.summary(other, level)
    cpu_key = key.replace("_vs_", "_cpu_advantage_vs_", 1)
    return {
        key: ratio(mine.rate if mine else math.nan, theirs.rate if theirs else math.nan),
        f"{key}_paired": points.paired_ratio(ours, other, level),
        # The same comparison by CPU cost: how many times more bench-process CPU per query the
        # other style needs. Unlike q/s it hardly moves when other processes share the cores.
        cpu_key: ratio(
            theirs.client_cpu_us if theirs else math.nan, mine.client_cpu_us if mine else math.nan
        ),
    }


def loop_or_fallback(points: PointReadResults) -> tuple[str, str | None]:
    """The contender standing for ours in loop mode, and why it is thread mode when it is."""
    if LOOP in points.by_contender:
        return LOOP, None
    reason = points.skipped.get(LOOP, "left out by --contenders")
    return OURS, f"{LOOP} not measured ({reason}): computed with ours in thread mode"


def best_mode(points: PointReadResults, level: int) -> str:
    """Whichever of ours in thread or loop mode served more queries per second at ``level``."""
    rates = {
        name: summary.rate
        for name in (OURS, LOOP)
        if (summary := points.summary(name, level)) is not None and math.isfinite(summary.rate)
    }
    return max(rates, key=lambda name: rates[name]) if rates else OURS


def io_of(name: str) -> str:
    return "loop" if name.endswith("_loop") else "thread"


#: Headline ratios printed beside the targets with no goal of their own.
INFORMATIONAL = {"execute_vs_acsylla": "ours (best I/O mode) against acsylla (C++ driver)"}


def _point_section(points: PointReadResults) -> tuple[dict[str, Any], dict[str, Any]]:
    level = RATIO_LEVEL if RATIO_LEVEL in points.levels else max(points.levels)
    flat: dict[str, Any] = {"ratio_level": level}
    for name in ("raw_default", "raw_tuple", "executor", *points.descriptions):
        if name != OURS:
            flat.update(_compare(points, OURS, name, level, f"execute_vs_{name}"))
    for name in points.descriptions:
        summary = points.summary(name, level)
        if summary is not None:
            flat[f"{name}_qps"] = summary.rate
            flat[f"{name}_client_cpu_us_per_query"] = summary.client_cpu_us
    # The headline ratios of issue 16, each with the I/O mode of ours it was computed with.
    loop, fallback = loop_or_fallback(points)
    best = best_mode(points, level)
    headline_io: dict[str, str] = {}
    for key, ours, other, at in (
        ("execute_loop_vs_raw_tuple", loop, "raw_tuple", level),
        ("execute_loop_vs_raw_tuple_c10", loop, "raw_tuple", LOW_LEVEL),
        ("execute_vs_scyllapy", best, "scyllapy", level),
        ("execute_vs_acsylla", best, "acsylla", level),
    ):
        flat.update(_compare(points, ours, other, at, key))
        headline_io[key] = io_of(ours)
    flat["headline_io"] = headline_io
    flat["loop_io_fallback"] = fallback
    contenders: dict[str, Any] = {}
    for name, by_level in points.by_contender.items():
        levels: dict[str, Any] = {}
        for lvl, summary in by_level.items():
            base = points.summary(BASELINE, lvl)
            levels[str(lvl)] = {
                **summary.as_json(),
                "ratio_to_raw_default": ratio(summary.rate, base.rate if base else math.nan),
            }
        contenders[name] = {"description": points.descriptions[name], "levels": levels}
    section = {"levels": points.levels, "contenders": contenders, "skipped": points.skipped}
    return flat, section


def _stream_section(stream: StreamResults) -> tuple[dict[str, Any], dict[str, Any]]:
    ours = stream.by_contender.get("ours_stream")
    tuple_rows = stream.by_contender.get("ours_stream_tuple_rows")
    driver = stream.by_contender.get("driver_paging_thread")
    flat = {
        "stream_rows_per_s": ours.rate if ours else math.nan,
        "driver_paging_rows_per_s": driver.rate if driver else math.nan,
        "stream_vs_driver_paging": ratio(
            ours.rate if ours else math.nan, driver.rate if driver else math.nan
        ),
        "stream_max_loop_stall_ms": ours.max_stall_ms if ours else math.nan,
        "stream_median_round_loop_stall_ms": ours.median_stall_ms if ours else math.nan,
        "stream_max_loop_blocked_ms": ours.max_blocked_ms if ours else math.nan,
        "stream_longest_gc_pause_ms": ours.gc_pause_ms if ours else math.nan,
        "stream_gc_frozen_max_loop_stall_ms": ours.frozen_max_stall_ms if ours else math.nan,
        "stream_tuple_rows_max_loop_stall_ms": tuple_rows.max_stall_ms if tuple_rows else math.nan,
        "stream_tuple_rows_vs_driver_paging": ratio(
            tuple_rows.rate if tuple_rows else math.nan, driver.rate if driver else math.nan
        ),
        "stream_gc_frozen_vs_driver_paging": ratio(
            ours.frozen_rate if ours else math.nan, driver.frozen_rate if driver else math.nan
        ),
        "idle_loop_max_stall_ms": max(stream.idle_stalls_ms, default=math.nan),
        "driver_paging_max_loop_stall_ms": driver.max_stall_ms if driver else math.nan,
        "stream_peak_memory_mb": ours.peak_memory_mb if ours else math.nan,
        "driver_paging_peak_memory_mb": driver.peak_memory_mb if driver else math.nan,
    }
    section = {
        "rows": stream.rows,
        "fetch_size": stream.fetch_size,
        "idle_loop_stalls_ms": stream.idle_stalls_ms,
        "gc_frozen_objects": stream.frozen_objects,
        "contenders": {name: s.as_json() for name, s in stream.by_contender.items()},
        "skipped": stream.skipped,
    }
    return flat, section


#: The app of ours compared with acsylla's: the same work (one prepared read, one endpoint).
HTTP_OURS = "middleware_http"


def _http_section(http: HttpResults) -> tuple[dict[str, Any], dict[str, Any]]:
    example = http.by_app.get("example_http")
    middleware = http.by_app.get(HTTP_OURS)
    sync = http.by_app.get("sync_threadpool_http")
    traced = http.by_app.get("traced_middleware_http")
    acsylla = http.by_app.get("acsylla_http")
    sync_rps = sync.rps if sync else math.nan
    # Ours in its best mode: the I/O mode whose app served more requests per second.
    candidates = {
        name: summary.rps
        for name in (HTTP_OURS, f"{HTTP_OURS}_loop")
        if (summary := http.by_app.get(name)) is not None and math.isfinite(summary.rps)
    }
    best = max(candidates, key=lambda name: candidates[name]) if candidates else HTTP_OURS
    flat = {
        "http_rps": example.rps if example else math.nan,
        "http_p99_ms": example.p99_ms if example else math.nan,
        "http_middleware_rps": middleware.rps if middleware else math.nan,
        "http_middleware_p99_ms": middleware.p99_ms if middleware else math.nan,
        "http_sync_threadpool_rps": sync_rps,
        "http_sync_threadpool_p99_ms": sync.p99_ms if sync else math.nan,
        "http_vs_sync_threadpool": ratio(example.rps if example else math.nan, sync_rps),
        "http_middleware_vs_sync_threadpool": ratio(
            middleware.rps if middleware else math.nan, sync_rps
        ),
        "http_traced_rps": traced.rps if traced else math.nan,
        "http_traced_vs_untraced": ratio(
            traced.rps if traced else math.nan, middleware.rps if middleware else math.nan
        ),
        "http_acsylla_rps": acsylla.rps if acsylla else math.nan,
        "http_vs_acsylla": ratio(
            candidates.get(best, math.nan), acsylla.rps if acsylla else math.nan
        ),
        "http_vs_acsylla_app": best,
        "headline_io": {"http_vs_acsylla": io_of(best)},
    }
    section = {
        "connections": http.connections,
        "load_tool": http.tool,
        "apps": {
            name: {**s.as_json(), "io": http.io.get(name), "ratio_to_sync": ratio(s.rps, sync_rps)}
            for name, s in http.by_app.items()
        },
        "skipped": http.skipped,
    }
    return flat, section


def build_report(
    meta: dict[str, Any],
    points: PointReadResults | None,
    stream: StreamResults | None,
    http: HttpResults | None,
    errors: ErrorStormResults | None = None,
) -> dict[str, Any]:
    """The whole JSON document: headline figures at the top level, details per section."""
    report: dict[str, Any] = {"meta": meta}
    if errors is not None and errors.runs:
        report["error_storm"] = storm = errors.as_json()
        for key in ("max_loop_stall_ms", "full_gcs_per_10k_failures", "longest_gc_pause_ms"):
            report[f"error_storm_{key}"] = storm[key]
    for section_name, section in (("point_reads", points), ("stream", stream), ("http", http)):
        if section is None:
            continue
        if isinstance(section, PointReadResults):
            flat, details = _point_section(section)
        elif isinstance(section, StreamResults):
            flat, details = _stream_section(section)
        else:
            flat, details = _http_section(section)
        report.setdefault("headline_io", {}).update(flat.pop("headline_io", {}))
        report.update(flat)
        report[section_name] = details
    report["targets"] = [
        {
            "key": t.key,
            "goal": t.goal,
            "direction": ">=" if t.at_least else "<=",
            "value": report.get(t.key),
            "result": t.check(report.get(t.key)),
            "text": t.text,
        }
        for t in TARGETS
    ]
    return report


def json_safe(value: Any) -> Any:
    """NaN and infinity become ``null``: they are not JSON, and mean 'not measured' here."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _num(value: Any, spec: str = ",.0f") -> str:
    if isinstance(value, int | float) and math.isfinite(value):
        return format(value, spec)
    return "-"


def format_table(report: dict[str, Any]) -> str:
    lines: list[str] = []
    meta = report["meta"]
    lines.append(f"cassandra-asgi bench ({meta['mode']}) against {meta['target']}")
    lines.append(
        f"python {meta['python']}, cassandra-driver {meta['driver']}, {meta['cpus']} CPUs, "
        f"{meta['started_utc']}"
    )
    points = report.get("point_reads")
    if points:
        lines.append("")
        lines.append("One-row prepared reads by key (median of interleaved rounds)")
        header = (
            f"{'in flight':>9}  {'contender':<26}{'q/s':>10}{'vs raw':>8}"
            f"{'p50 ms':>9}{'p99 ms':>9}{'cpu us/q':>9}{'srv us/q':>9}{'GC2/10k':>8}"
            f"{'GC ms':>7}"
        )
        lines.append(header + f"{'errors':>8}")
        lines.append("-" * (len(header) + 8))
        for level in points["levels"]:
            for name, contender in points["contenders"].items():
                row = contender["levels"].get(str(level))
                if row is None:
                    continue
                lines.append(
                    f"{level:>9}  {name:<26}{_num(row['qps']):>10}"
                    f"{_num(row['ratio_to_raw_default'], '.2f'):>8}"
                    f"{_num(row['p50_ms'], '.2f'):>9}{_num(row['p99_ms'], '.2f'):>9}"
                    f"{_num(row['client_cpu_us_per_query']):>9}"
                    f"{_num(row['server_cpu_us_per_query']):>9}"
                    f"{_num(row['full_gcs_per_10k_queries'], '.1f'):>8}"
                    f"{_num(row['longest_gc_pause_ms'], '.0f'):>7}{row['errors']:>8}"
                )
        lines.append(
            "  vs raw: q/s ratio to raw_default; cpu us/q: bench-process CPU (all threads) per"
            " query; srv us/q: in-memory server CPU per query"
        )
        lines.append(
            "  GC2/10k: full cyclic-GC collections per 10,000 queries; GC ms: the longest GC"
            " pause (it holds the GIL: every thread stops)"
        )
        for name, reason in points["skipped"].items():
            lines.append(f"  skipped {name}: {reason}")
    stream = report.get("stream")
    if stream:
        lines.append("")
        lines.append(
            f"Streaming {stream['rows']:,} rows (fetch_size {stream['fetch_size']}), median rate,"
            " worst loop stall"
        )
        lines.append(
            f"{'contender':<26}{'rows/s':>12}{'stall ms':>10}{'median':>8}{'no-CPU':>8}"
            f"{'peak MB':>9}"
            f"{'cpu us/row':>11}{'srv us/row':>11}{'gc ms':>7}"
        )
        for name, row in stream["contenders"].items():
            lines.append(
                f"{name:<26}{_num(row['rows_per_s']):>12}"
                f"{_num(row['max_loop_stall_ms'], '.2f'):>10}"
                f"{_num(row['median_round_max_loop_stall_ms'], '.2f'):>8}"
                f"{_num(row['max_loop_blocked_ms'], '.2f'):>8}"
                f"{_num(row['peak_traced_memory_mb'], '.1f'):>9}"
                f"{_num(row['client_cpu_us_per_row'], '.2f'):>11}"
                f"{_num(row['server_cpu_us_per_row'], '.2f'):>11}"
                f"{_num(row['longest_gc_pause_ms'], '.1f'):>7}"
            )
        idle = stream["idle_loop_stalls_ms"]
        if idle:
            lines.append(
                f"  stall ms: worst round; median: median of the rounds' worst; no-CPU: worst "
                "stall minus time Linux kept the loop thread off the CPU;\n  an idle loop's "
                f"worst stall on this machine meanwhile: {max(v or 0.0 for v in idle):.2f} ms"
            )
        lines.append(
            "  gc ms: longest cyclic-GC pause during the rounds. With gc.freeze() first "
            f"({stream['gc_frozen_objects']:,} objects frozen):"
        )
        for name, row in stream["contenders"].items():
            lines.append(
                f"    {name:<22}{_num(row['gc_frozen_rows_per_s']):>12} rows/s, worst stall "
                f"{_num(row['gc_frozen_max_loop_stall_ms'], '.2f')} ms, longest GC pause "
                f"{_num(row['gc_frozen_longest_gc_pause_ms'], '.1f')} ms"
            )
        for name, reason in stream["skipped"].items():
            lines.append(f"  skipped {name}: {reason}")
    http = report.get("http")
    if http:
        lines.append("")
        tool = http.get("load_tool", "python")
        lines.append(
            f"HTTP end to end, {http['connections']} keep-alive connections (uvicorn), "
            f"load from {'wrk -t1' if tool == 'wrk' else 'the Python load generator'}"
        )
        lines.append(
            f"{'app':<28}{'req/s':>10}{'vs sync':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
        )
        for name, row in http["apps"].items():
            lines.append(
                f"{name:<28}{_num(row['rps']):>10}{_num(row['ratio_to_sync'], '.2f'):>9}"
                f"{_num(row['p50_ms'], '.2f'):>9}{_num(row['p99_ms'], '.2f'):>9}{row['errors']:>8}"
            )
        for name, reason in http.get("skipped", {}).items():
            lines.append(f"  skipped {name}: {reason}")
    storm = report.get("error_storm")
    if storm:
        lines.append("")
        lines.append(
            f"Error storm: {storm['failures_per_round']:,} failing requests per round, "
            f"{storm['concurrency']} in flight (InvalidRequest from the server)"
        )
        lines.append(
            f"{'failures/s':>12}{'stall ms':>10}{'median':>8}{'no-CPU':>8}{'GC2/10k':>9}"
            f"{'GC ms':>7}{'cpu us/failure':>16}"
        )
        lines.append(
            f"{_num(storm['failures_per_s']):>12}{_num(storm['max_loop_stall_ms'], '.2f'):>10}"
            f"{_num(storm['median_round_max_loop_stall_ms'], '.2f'):>8}"
            f"{_num(storm['max_loop_blocked_ms'], '.2f'):>8}"
            f"{_num(storm['full_gcs_per_10k_failures'], '.1f'):>9}"
            f"{_num(storm['longest_gc_pause_ms'], '.1f'):>7}"
            f"{_num(storm['client_cpu_us_per_failure']):>16}"
        )
    lines.append("")
    level = report.get("ratio_level", RATIO_LEVEL)
    lines.append(f"Targets (ratios at {level} in flight, same run)")
    headline_io = report.get("headline_io") or {}

    def mode(key: str) -> str:
        return f" [ours io={headline_io[key]}]" if key in headline_io else ""

    for target in report["targets"]:
        lines.append(
            f"  {target['result']:<8}{target['key']:<31}{_num(target['value'], '.2f'):>8}"
            f"  (goal {target['direction']} {target['goal']:g}: {target['text']})"
            + mode(target["key"])
        )
    for key, text in INFORMATIONAL.items():
        if key in report:
            lines.append(
                f"  {'-':<8}{key:<31}{_num(report.get(key), '.2f'):>8}  (no target: {text})"
                f"{mode(key)}"
            )
    if report.get("loop_io_fallback"):
        lines.append(f"  io=loop ratios: {report['loop_io_fallback']}")
    cpu_lines = [
        f"  {target.check(report.get(key)):<8}{key:<45}{_num(report.get(key), '.2f'):>6}"
        for target in TARGETS
        if target.key.startswith("execute_")
        and (key := target.key.replace("_vs_", "_cpu_advantage_vs_", 1)) in report
    ]
    if cpu_lines:
        lines.append("The same by CPU per query (other style's CPU / ours; same goals):")
        lines.extend(cpu_lines)
    if "stream_gc_frozen_max_loop_stall_ms" in report:
        stall = TARGET_BY_KEY["stream_max_loop_stall_ms"]
        rate = TARGET_BY_KEY["stream_vs_driver_paging"]
        lines.append("Streaming diagnostics: tuple rows; gc.freeze() after startup (same goals):")
        for target, key in (
            (rate, "stream_tuple_rows_vs_driver_paging"),
            (stall, "stream_tuple_rows_max_loop_stall_ms"),
            (rate, "stream_gc_frozen_vs_driver_paging"),
            (stall, "stream_gc_frozen_max_loop_stall_ms"),
        ):
            lines.append(
                f"  {target.check(report.get(key)):<8}{key:<42}{_num(report.get(key), '.2f'):>6}"
            )
    return "\n".join(lines)
