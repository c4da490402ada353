"""The pytest plugin's helpers, importable from the testing package.

The plugin itself is the top-level module ``pytest_cassandra_asgi`` (entry point ``pytest11``),
outside this package so that pytest can load it without importing the driver; its fixtures
are registered from there.
"""

from __future__ import annotations

from pytest_cassandra_asgi import driver_cluster_kwargs, real_cluster_requested

__all__ = ["driver_cluster_kwargs", "real_cluster_requested"]
