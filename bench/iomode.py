"""Which I/O modes of ours the bench can run: ``"thread"`` always, ``"loop"`` when the library
has it.

The bench measures every contender of ours in both modes, and has to keep working on a checkout
whose ``CassandraConfig`` predates the ``io`` option. Presence is read from the signature:
``CassandraConfig`` forwards unknown keywords to the driver's ``Cluster``, so ``io="loop"``
would not fail where it is passed but only later, inside the driver, at connect.
"""

from __future__ import annotations

import inspect

from cassandra_asgi.config import CassandraConfig

__all__ = ["IO_MODES", "NO_IO_OPTION", "config_has_io", "io_unavailable", "with_io"]

IO_MODES = ("thread", "loop")
NO_IO_OPTION = "CassandraConfig has no io option"


def config_has_io(config_class: type[CassandraConfig] = CassandraConfig) -> bool:
    """Whether ``config_class`` takes ``io`` as a setting of its own."""
    return "io" in inspect.signature(config_class).parameters


def io_unavailable(io: str, config_class: type[CassandraConfig] = CassandraConfig) -> str | None:
    """Why ours cannot run with ``io`` here, or ``None`` when it can.

    Thread mode is what a config without ``io`` does anyway, so only loop mode can be missing.
    """
    if io not in IO_MODES:
        raise ValueError(f"io: expected one of {IO_MODES}, got {io!r}")
    if io == "thread" or config_has_io(config_class):
        return None
    return NO_IO_OPTION


def with_io(config: CassandraConfig, io: str) -> CassandraConfig:
    """``config`` pinned to ``io``, so an inherited ``CASSANDRA_IO`` cannot switch the mode a
    contender is named after; unchanged where the option does not exist (thread mode only)."""
    reason = io_unavailable(io, type(config))
    if reason is not None:
        raise ValueError(reason)
    return config.replace(io=io) if config_has_io(type(config)) else config
