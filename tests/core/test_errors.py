"""``cassandra_asgi.errors`` re-exports the driver's exceptions as the same classes, typed.

The declarations type checkers see are checked against the installed driver here (bases and
attributes), and mypy checks the ``assert_type`` lines of this file, which fail if a name is
untyped (``Any``).
"""

from __future__ import annotations

import ast
import copy
import importlib.metadata
import inspect
import pickle
import sys
from pathlib import Path
from typing import assert_type

import pytest
from cassandra.cluster import NoHostAvailable

import cassandra_asgi
from cassandra_asgi import AsyncSession, errors
from cassandra_asgi.testing import CQLServer

OURS = {
    name for name in errors.__all__ if issubclass(getattr(errors, name), errors.CassandraASGIError)
}
DRIVERS = sorted(set(errors.__all__) - OURS - {"CassandraASGIError"})


def _declared() -> dict[str, ast.ClassDef]:
    """The classes declared for type checkers (the ``if TYPE_CHECKING:`` block)."""
    tree = ast.parse(Path(errors.__file__).read_text())
    block = next(
        n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"
    )
    return {node.name: node for node in block.body if isinstance(node, ast.ClassDef)}


@pytest.mark.parametrize("name", DRIVERS)
def test_each_driver_exception_is_the_drivers_own_class(name: str) -> None:
    cls = getattr(errors, name)
    assert cls.__module__.split(".")[0] == "cassandra"
    assert getattr(sys.modules[cls.__module__], name) is cls


@pytest.mark.parametrize("name", DRIVERS)
def test_each_typed_declaration_matches_the_installed_driver(name: str) -> None:
    declaration = _declared()[name]
    cls = getattr(errors, name)
    for base in declaration.bases:
        base_name = ast.unparse(base)
        expected = Exception if base_name == "Exception" else getattr(errors, base_name)
        assert issubclass(cls, expected), f"{name} is not a {base_name} in this driver"
    set_by_init = {
        parameter
        for klass in cls.__mro__
        if "__init__" in vars(klass)
        for parameter in inspect.signature(vars(klass)["__init__"]).parameters
    }
    for statement in declaration.body:
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            attribute = statement.target.id
            assert hasattr(cls, attribute) or attribute in set_by_init, f"{name}.{attribute}"


def test_every_driver_exception_is_declared_for_type_checkers() -> None:
    assert sorted(_declared()) == DRIVERS


@pytest.mark.memory_only
async def test_a_caught_driver_exception_has_typed_attributes(
    server_session: AsyncSession, cql_server: CQLServer
) -> None:
    cql_server.fail("read_timeout", pattern="system.local")
    with pytest.raises(errors.ReadTimeout) as caught:
        await server_session.execute("SELECT release_version FROM system.local")
    assert_type(caught.value.data_retrieved, bool | None)
    assert_type(caught.value.required_responses, int | None)
    assert caught.value.required_responses == 1


def test_the_version_is_the_packages_one_source() -> None:
    assert cassandra_asgi.__version__ == importlib.metadata.version("cassandra-asgi")


def test_a_local_dc_outage_error_is_a_no_host_available_that_survives_pickling() -> None:
    error = errors.LocalDCDownError("all hosts in local DC dc1 are down", "dc1", ["dc2"])
    assert isinstance(error, NoHostAvailable)
    assert isinstance(error, errors.CassandraASGIError)
    assert error.errors == {}  # no host was tried, as in the driver's own error
    for twin in (pickle.loads(pickle.dumps(error)), copy.copy(error)):
        assert type(twin) is errors.LocalDCDownError
        assert (str(twin), twin.local_dc, twin.live_dcs) == (str(error), "dc1", ["dc2"])
