"""Which process we are in, without a system call on every request.

Driver connections and threads do not survive ``fork()``: a session inherited by a child
process would only produce timeouts. Sessions remember the generation they were created in;
a forked child sees a different one and refuses to run.
"""

from __future__ import annotations

import os

__all__ = ["current_generation"]

_generation = 0


def _after_fork_in_child() -> None:
    global _generation
    _generation += 1


os.register_at_fork(after_in_child=_after_fork_in_child)


def current_generation() -> int:
    """A number that changes in a child process after every ``fork()``."""
    return _generation
