"""Serve an example app for real: uvicorn or aiohttp on a loopback socket, in its own thread.

The server gets its own thread and event loop so that the test (an HTTP client on the test's
loop) observes the app from outside, as a browser would, and a stalled server loop cannot be
hidden by the client sharing it. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import uvicorn
from aiohttp import web

from cassandra_asgi import CassandraConfig

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
#: Connecting, creating the schema and preparing statements; generous for a busy machine.
STARTUP_TIMEOUT = 60.0
SHUTDOWN_TIMEOUT = 30.0

#: Every example app, by the name tests are parametrized with.
EXAMPLE_MODULES = {
    "fastapi": "fastapi_app",
    "litestar": "litestar_app",
    "quart": "quart_app",
    "starlette": "starlette_app",
    "raw_asgi": "raw_asgi_app",
    "aiohttp": "aiohttp_app",
}


def import_example(module_name: str) -> ModuleType:
    """Import ``examples/<module_name>.py`` the way ``python examples/...`` would see it."""
    if str(EXAMPLES_DIR) not in sys.path:
        sys.path.insert(0, str(EXAMPLES_DIR))
    return importlib.import_module(module_name)


def listening_socket() -> socket.socket:
    """A socket already bound and listening on a free loopback port: no port race."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


def _wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout} s")
        time.sleep(0.02)


@contextlib.contextmanager
def serving_asgi(app: Any) -> Iterator[str]:
    """Run ``app`` under uvicorn (lifespan on) and yield its base URL."""
    with serving_uvicorn(app) as (url, _):
        yield url


@contextlib.contextmanager
def serving_uvicorn(app: Any) -> Iterator[tuple[str, uvicorn.Server]]:
    """Run ``app`` under uvicorn (lifespan on); yield its base URL and the server, whose
    ``should_exit`` starts a graceful shutdown."""
    sock = listening_socket()
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning"))

    def run() -> None:
        with contextlib.suppress(SystemExit):  # uvicorn's way out when the app's startup fails
            server.run(sockets=[sock])

    thread = threading.Thread(target=run, name="example-uvicorn", daemon=True)
    thread.start()
    try:
        _wait_until(
            lambda: server.started or not thread.is_alive(), STARTUP_TIMEOUT, "uvicorn startup"
        )
        if not server.started:
            raise RuntimeError("the example app failed to start under uvicorn (see its log)")
        yield base_url(sock), server
    finally:
        server.should_exit = True
        thread.join(SHUTDOWN_TIMEOUT)
        sock.close()
    if thread.is_alive():
        raise RuntimeError(f"uvicorn did not shut down within {SHUTDOWN_TIMEOUT} s")


@contextlib.contextmanager
def serving_aiohttp(app: web.Application) -> Iterator[str]:
    """Run ``app`` with ``AppRunner`` + ``SockSite`` (startup and cleanup contexts included)."""
    sock = listening_socket()
    started = threading.Event()
    failure: list[BaseException] = []
    loop_and_stop: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def serve() -> None:
        stop = asyncio.Event()
        runner = web.AppRunner(app, handle_signals=False)
        try:
            await runner.setup()
            await web.SockSite(runner, sock).start()
        except BaseException as exc:
            failure.append(exc)
            started.set()
            await runner.cleanup()
            return
        loop_and_stop.append((asyncio.get_running_loop(), stop))
        started.set()
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), name="example-aiohttp")
    thread.daemon = True
    thread.start()
    try:
        if not started.wait(STARTUP_TIMEOUT):
            raise TimeoutError(f"aiohttp startup did not finish within {STARTUP_TIMEOUT} s")
        if failure:
            raise RuntimeError("the example app failed to start under aiohttp") from failure[0]
        yield base_url(sock)
    finally:
        if loop_and_stop:
            loop, stop = loop_and_stop[0]
            loop.call_soon_threadsafe(stop.set)
        thread.join(SHUTDOWN_TIMEOUT)
        sock.close()
    if thread.is_alive():
        raise RuntimeError(f"aiohttp did not shut down within {SHUTDOWN_TIMEOUT} s")


@contextlib.contextmanager
def serving_example(name: str, config: CassandraConfig) -> Iterator[str]:
    """Build example ``name`` for ``config`` and serve it; yields the base URL."""
    app = import_example(EXAMPLE_MODULES[name]).create_app(config)
    serving = serving_aiohttp if name == "aiohttp" else serving_asgi
    with serving(app) as url:
        yield url
