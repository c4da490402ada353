"""The driver and asyncio internals this package relies on exist, and only ``_compat`` uses them.

Run against each supported cassandra-driver (3.29, 3.30): a missing name fails here, naming the
driver version, instead of surfacing as an AttributeError deep inside a request.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Any

import cassandra
import pytest

from cassandra_asgi import _compat

PACKAGE = Path(_compat.__file__).parent


@pytest.mark.parametrize("name", _compat.RELIED_ON)
def test_the_installed_driver_has_every_private_name_relied_on(name: str) -> None:
    module_name, _, path = name.partition(":")
    found: object = importlib.import_module(module_name)
    for part in path.split("."):
        assert hasattr(found, part), (
            f"cassandra-driver {cassandra.__version__}: {name} is gone; adapt "
            "cassandra_asgi/_compat.py before supporting this version"
        )
        found = getattr(found, part)


@pytest.mark.parametrize("name", _compat.RELIED_ON_PER_INSTANCE)
def test_a_new_driver_object_has_every_private_attribute_relied_on(name: str) -> None:
    module_name, _, path = name.partition(":")
    class_name, _, attribute = path.partition(".")
    instance = getattr(importlib.import_module(module_name), class_name)()
    assert hasattr(instance, attribute), (
        f"cassandra-driver {cassandra.__version__}: {name} is gone; adapt "
        "cassandra_asgi/_compat.py before supporting this version"
    )


def _private_attributes() -> set[str]:
    names = _compat.RELIED_ON + _compat.RELIED_ON_PER_INSTANCE + _compat.RELIED_ON_PER_SESSION
    return {name.rpartition(".")[2] for name in names if "." in name.partition(":")[2]}


def _reaches_past_compat(source: str) -> list[str]:
    """Imports of private names from the driver or asyncio, and uses of the private
    attributes listed in ``RELIED_ON``, in one module's source."""
    found = []
    attributes = _private_attributes()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in (
            "cassandra",
            "asyncio",
        ):
            found += [f"import {a.name}" for a in node.names if a.name.startswith("_")]
        elif isinstance(node, ast.Attribute) and node.attr in attributes:
            found.append(f".{node.attr}")
    return found


def test_no_other_module_reaches_driver_internals() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): found
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "_compat.py"
        and "testing" not in path.relative_to(PACKAGE).parts
        and (found := _reaches_past_compat(path.read_text()))
    }
    assert offenders == {}


def test_the_check_recognises_a_module_reaching_past_compat() -> None:
    source = (
        "from cassandra.cluster import _NOT_SET\ndef f(future):\n    return future._col_names\n"
    )
    assert _reaches_past_compat(source) == ["import _NOT_SET", "._col_names"]


@pytest.mark.parametrize("name", _compat.RELIED_ON_PER_SESSION)
async def test_a_connected_driver_session_has_every_private_attribute_relied_on(
    name: str, cassandra_config: Any
) -> None:
    from cassandra_asgi import connect

    attribute = name.rpartition(".")[2]
    async with connect(cassandra_config) as session:
        assert hasattr(session.driver_session, attribute), (
            f"cassandra-driver {cassandra.__version__}: {name} is gone; adapt "
            "cassandra_asgi/_compat.py before supporting this version"
        )


def test_the_drivers_reactor_connection_reads_where_the_session_watches_for_losses() -> None:
    """Thread mode wraps the reactor's ``handle_read`` (``_losses``); without it, a node killed
    while idle would be noticed at the next heartbeat only."""
    from cassandra.cluster import Cluster

    from cassandra_asgi._losses import reporting_reactor_connection

    base = Cluster.connection_class
    assert callable(getattr(base, "handle_read", None)), (
        f"cassandra-driver {cassandra.__version__}: {base.__name__} has no handle_read; adapt "
        "cassandra_asgi/_losses.py before supporting this version"
    )
    reporting = reporting_reactor_connection(base)
    assert issubclass(reporting, base)
    assert reporting.handle_read is not base.handle_read


async def test_a_sessions_lz4_connections_send_short_segments_without_trying_lz4(
    cassandra_config: Any,
) -> None:
    """Each try is a call into LZ4 that releases the GIL (``_compat._SmallSegmentsAsIs``)."""
    pytest.importorskip("lz4")
    from cassandra_asgi import connect

    config = cassandra_config.replace(compression="lz4")
    async with connect(config) as session:
        if session.cluster.protocol_version < 5:
            pytest.skip("segments are protocol v5")
        connections = [
            connection
            for pool in _compat.session_pools(session.driver_session).values()
            for connection in pool.get_connections()
        ]
        assert connections
        for connection in connections:
            codec = _compat.segment_codec(connection)
            short = b"k" * (_compat.COMPRESSED_FROM - 1)
            assert codec.compress(short) is short
            long = b"k" * _compat.COMPRESSED_FROM * 4
            assert len(codec.compress(long)) < len(long)
        select = "SELECT release_version FROM system.local"
        assert (await session.execute(select)).one().release_version
