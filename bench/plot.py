"""The PNG: throughput and p99 latency against concurrency, one line per contender."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["write_plot"]


def write_plot(report: dict[str, Any], path: Path) -> None:
    """Draw the point-read section of ``report`` (the JSON document) into ``path``."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    points = report.get("point_reads")
    if not points:
        raise ValueError("the report has no point-read section to plot")
    figure, (throughput, tail) = plt.subplots(1, 2, figsize=(12, 4.8))
    for name, contender in points["contenders"].items():
        levels = sorted(int(level) for level in contender["levels"])
        rows = [contender["levels"][str(level)] for level in levels]
        style = {"marker": "o", "linewidth": 2.5 if name == "ours" else 1.2, "label": name}
        throughput.plot(levels, [r["qps"] for r in rows], **style)
        tail.plot(levels, [r["p99_ms"] for r in rows], **style)
    throughput.set(
        xscale="log", xlabel="requests in flight", ylabel="queries / s", title="Throughput"
    )
    tail.set(
        xscale="log", yscale="log", xlabel="requests in flight", ylabel="p99 latency (ms)",
        title="p99 latency",
    )  # fmt: skip
    for axes in (throughput, tail):
        axes.grid(True, which="both", alpha=0.3)
    throughput.set_ylim(bottom=0)
    tail.legend(fontsize="small")
    meta = report["meta"]
    figure.suptitle(f"One-row prepared reads, {meta['target']} ({meta['mode']})", fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
