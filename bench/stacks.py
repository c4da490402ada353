"""Summarise py-spy's raw (collapsed) stacks: self time per function, per thread.

``python -m bench.stacks stacks.txt [--top 25]``. Each line of the input is
``frame;frame;...;leaf count``; with ``py-spy --threads`` the first frame names the thread.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main", "summarise"]


def summarise(lines: Sequence[str], top: int) -> str:
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    per_thread: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, count_text = line.rstrip().rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        thread = frames[0] if frames[0].startswith(("thread", "process")) else "?"
        per_thread[thread] += count
        self_time[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return "no samples"
    out = [f"{total} samples"]
    out.append("by thread:")
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in per_thread.most_common()]
    out.append(f"self time, top {top}:")
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in self_time.most_common(top)]
    out.append(f"inclusive time, top {top}:")
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stacks", description=__doc__)
    parser.add_argument("path", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    print(summarise(args.path.read_text().splitlines(), args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
