"""Frameworks are optional extras: the package never imports one it was not asked for.

Each check runs in a fresh interpreter, since this test process has imported them all.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest

import cassandra_asgi

#: Web frameworks and servers none of which the core may pull in.
FRAMEWORKS = (
    "aiohttp",
    "fastapi",
    "flask",
    "granian",
    "hypercorn",
    "litestar",
    "quart",
    "starlette",
    "uvicorn",
)
#: The adapters that exist to import a framework, and the frameworks each may bring.
FRAMEWORK_ADAPTERS = {
    "cassandra_asgi.adapters.aiohttp": {"aiohttp"},
    "cassandra_asgi.adapters.fastapi": {"fastapi", "starlette"},
    "cassandra_asgi.adapters.litestar": {"litestar"},
    "cassandra_asgi.adapters.quart": {"quart", "flask", "hypercorn"},  # quart imports both
}


def frameworks_imported_by(code: str) -> set[str]:
    probe = (
        f"import json, sys\n{code}\n"
        f"print(json.dumps([m for m in {FRAMEWORKS!r} if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def core_modules() -> list[str]:
    """Every module of the package except the framework adapters."""
    names = [
        module.name
        for module in pkgutil.walk_packages(cassandra_asgi.__path__, "cassandra_asgi.")
        if module.name not in FRAMEWORK_ADAPTERS and module.name != "cassandra_asgi.__main__"
    ]
    assert "cassandra_asgi.adapters.asgi" in names
    return names


def test_importing_the_package_imports_no_framework() -> None:
    code = "import cassandra_asgi\ncassandra_asgi.CassandraMiddleware"
    assert frameworks_imported_by(code) == set()


def test_no_module_outside_the_framework_adapters_imports_a_framework() -> None:
    code = "\n".join(f"import {name}" for name in core_modules())
    assert frameworks_imported_by(code) == set()


@pytest.mark.parametrize("adapter", sorted(FRAMEWORK_ADAPTERS))
def test_each_adapter_imports_only_its_own_framework(adapter: str) -> None:
    imported = frameworks_imported_by(f"import {adapter}")

    assert imported <= FRAMEWORK_ADAPTERS[adapter]
    assert imported  # the check itself sees the framework being imported
