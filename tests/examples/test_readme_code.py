"""The code in README.md runs as printed.

Each quick start's ```python block is executed as a module, served for real and asked for its
one endpoint; the code reads its settings from the ``CASSANDRA_*`` variables, which point at
the plugin's target (in-memory server or real cluster). The testing example runs under pytest.
"""

from __future__ import annotations

import re
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from example_servers import serving_aiohttp, serving_asgi

from cassandra_asgi import CassandraConfig

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = re.compile(r"^## (?P<title>.+?)\n(?P<body>.*?)(?=^## |\Z)", re.M | re.S)
PYTHON_BLOCK = re.compile(r"^```python\n(?P<code>.*?)^```$", re.M | re.S)
CODE_BLOCK = re.compile(r"^```(?P<lang>\w+)\n(?P<code>.*?)^```$", re.M | re.S)
QUICK_START = "Quick start: "


def python_blocks() -> dict[str, str]:
    """``{section heading: its first python block}`` for the README sections that have one."""
    found = {}
    for section in SECTION.finditer(README.read_text(encoding="utf-8")):
        if block := PYTHON_BLOCK.search(section["body"]):
            found[section["title"]] = block["code"]
    return found


def code_blocks(title: str, lang: str) -> list[str]:
    """Every ```lang block of the README section headed ``title``, in order."""
    for section in SECTION.finditer(README.read_text(encoding="utf-8")):
        if section["title"] == title:
            return [b["code"] for b in CODE_BLOCK.finditer(section["body"]) if b["lang"] == lang]
    raise AssertionError(f"README.md has no section {title!r}")


def quick_starts() -> dict[str, str]:
    """``{"FastAPI": code, ...}`` for every "Quick start: ..." section."""
    return {
        title.removeprefix(QUICK_START): code
        for title, code in python_blocks().items()
        if title.startswith(QUICK_START)
    }


def run_as_module(code: str, name: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Run ``code`` as module ``name``, registered in ``sys.modules`` for the test as an
    imported module would be (Litestar resolves handler annotations through it)."""
    module = types.ModuleType(name)
    monkeypatch.setitem(sys.modules, name, module)
    exec(compile(code, f"README.md ({name})", "exec"), module.__dict__)
    return module.__dict__


QUICK_START_SERVERS = {
    "FastAPI": serving_asgi,
    "Litestar": serving_asgi,
    "Quart": serving_asgi,
    "any ASGI app": serving_asgi,
    "aiohttp": serving_aiohttp,
}


@pytest.fixture(params=sorted(QUICK_START_SERVERS))
def quick_start_url(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    cassandra_config: CassandraConfig,
) -> Iterator[str]:
    """Serve one quick start with the ``CASSANDRA_*`` variables pointing at the test's target."""
    monkeypatch.setenv("CASSANDRA_CONTACT_POINTS", ",".join(cassandra_config.contact_points))
    monkeypatch.setenv("CASSANDRA_PORT", str(cassandra_config.port))
    app = run_as_module(quick_starts()[request.param], "readme_quick_start", monkeypatch)["app"]
    with QUICK_START_SERVERS[request.param](app) as url:
        yield url


def test_readme_has_a_quick_start_per_adapter() -> None:
    assert set(quick_starts()) == set(QUICK_START_SERVERS)


async def test_quick_start_answers_from_cassandra(quick_start_url: str) -> None:
    async with httpx.AsyncClient(base_url=quick_start_url, timeout=30.0) as client:
        response = await client.get("/release")

    assert response.status_code == 200
    assert re.fullmatch(r"\d+\.\d+.*", response.json()["release"])


TESTING = "Testing your application"


def run_pytest(directory: Path) -> subprocess.CompletedProcess[str]:
    """pytest in its own process, in ``directory``: the plugin as installed, nothing else."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_testing_example_passes_with_the_pyproject_line_shown(tmp_path: Path) -> None:
    [pyproject] = code_blocks(TESTING, "toml")
    (tmp_path / "pyproject.toml").write_text(pyproject)
    (tmp_path / "test_from_readme.py").write_text(code_blocks(TESTING, "python")[0])

    result = run_pytest(tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


@pytest.mark.memory_only  # one in-memory server for the run; its tests would skip otherwise
def test_conftest_example_runs_every_fixture_on_one_server(tmp_path: Path) -> None:
    [conftest] = [code for code in code_blocks(TESTING, "python") if "def cql_server(" in code]
    (tmp_path / "pyproject.toml").write_text(code_blocks(TESTING, "toml")[0])
    (tmp_path / "conftest.py").write_text(conftest)
    (tmp_path / "test_shared.py").write_text(
        """
import pytest

ports = set()


@pytest.mark.parametrize("n", range(3))
async def test_session_is_on_the_run_long_server(cassandra_session, cql_server_session, n):
    await cassandra_session.execute("CREATE TABLE kv (k int PRIMARY KEY)")  # own keyspace
    ports.add(cql_server_session.port)
    assert {host.endpoint.port for host in cassandra_session.cluster.metadata.all_hosts()} == ports


def test_faults_do_not_reach_the_next_test(cql_server):
    cql_server.fail("overloaded")


async def test_after_the_faulty_one(cassandra_session):
    assert (await cassandra_session.execute("SELECT * FROM system.local")).one() is not None
"""
    )

    result = run_pytest(tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed" in result.stdout


def test_readme_links_point_at_files_in_the_repository() -> None:
    links = re.findall(r"\]\(([^)#]+)\)", README.read_text(encoding="utf-8"))
    local = [link for link in links if "://" not in link]

    assert local, "the README links no file of the repository"
    assert [link for link in local if not (README.parent / link).exists()] == []


class RecordingEnvironment(dict[str, str]):
    """An empty environment that remembers which variables were asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return super().__getitem__(key)


def test_configuration_table_lists_every_variable_from_env_reads() -> None:
    environment = RecordingEnvironment()
    CassandraConfig.from_env(environ=environment)
    table = README.read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(CASSANDRA_[A-Z_]+)` \|", table, re.M))

    assert environment.asked
    assert documented == environment.asked
