"""Opening a session for an application's lifetime: the one startup path every adapter shares.

The ASGI middleware, the aiohttp cleanup context and the framework plugins all do the same
thing at startup: read the config (from the environment when none was given, at startup rather
than at import so each worker reads its own), connect, run the application's ``on_connect``
hook, and close the session again if the hook fails. Writing that once keeps their errors and
their cleanup identical.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from .config import CassandraConfig
from .connect import connect
from .errors import ConfigError, StartupHookError
from .session import AsyncSession

__all__ = [
    "LoopSessions",
    "OnConnect",
    "app_session",
    "check_config",
    "checked_key",
    "describe_hook",
    "open_app_session",
]

log = logging.getLogger("cassandra_asgi")

#: Startup work that needs the session (creating a schema, preparing statements).
OnConnect = Callable[[AsyncSession], Awaitable[object]]


def check_config(config: object) -> None:
    """Adapters take their config at construction but connect later: refuse a wrong one now."""
    if config is not None and not isinstance(config, CassandraConfig):
        raise ConfigError(f"config: expected a CassandraConfig or None, got {config!r}")


def checked_key(name: str, value: object) -> str:
    """A state or dependency key, refused at construction rather than at the first request."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{name}: expected a non-empty string, got {value!r}")
    return value


def describe_hook(hook: object) -> str:
    """``module.qualname`` of a hook, for messages that must say which one failed."""
    module = getattr(hook, "__module__", None)
    name = getattr(hook, "__qualname__", None) or repr(hook)
    return f"{module}.{name}" if module else name


async def open_app_session(
    config: CassandraConfig | None, on_connect: OnConnect | None = None, owner: str = ""
) -> AsyncSession:
    """Connect (``config=None``: ``CassandraConfig.from_env()``), then run ``on_connect``.

    Connect failures raise ``ConnectError`` (or ``ConfigError`` for a bad environment). A hook
    that raises closes the session and raises ``StartupHookError`` naming the hook, with the
    hook's traceback logged, so the user is not sent to look for a network problem. ``owner``,
    if given, is noted on the error: a framework's traceback does not say which plugin failed.
    """
    try:
        session = await connect(CassandraConfig.from_env() if config is None else config)
        if on_connect is not None:
            await _run_hook(session, on_connect)
    except Exception as exc:
        if owner:
            exc.add_note(f"{owner}: no Cassandra session at startup")
        raise
    return session


async def _run_hook(session: AsyncSession, on_connect: OnConnect) -> None:
    try:
        await on_connect(session)
    except Exception as exc:
        hook = describe_hook(on_connect)
        log.exception("the on_connect hook %s failed; closing the session", hook)
        await session.close()
        raise StartupHookError(
            f"connected, but the on_connect hook {hook} failed: {type(exc).__name__}: {exc}"
        ) from exc
    except BaseException:  # cancelled while the hook ran: nothing may be left open
        await session.close()
        raise


@asynccontextmanager
async def app_session(
    config: CassandraConfig | None, on_connect: OnConnect | None = None, owner: str = ""
) -> AsyncIterator[AsyncSession]:
    """``open_app_session`` for the ``async with`` that spans an application's life."""
    session = await open_app_session(config, on_connect, owner)
    try:
        yield session
    finally:
        await session.close()


@dataclass
class _LoopEntry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    session: AsyncSession | None = None
    closer: asyncio.Task[None] | None = None


class LoopSessions:
    """One session per event loop, opened on first use, for apps served without a lifespan.

    A session works only on the loop that connected it, and test clients (Starlette's
    ``TestClient`` without ``with``) run each request on a new loop. Each session closes through
    ``AsyncSession.close()`` on its own loop as that loop shuts down (``asyncio.run``,
    ``asyncio.Runner`` and anyio cancel every task first); one left on a loop closed without
    that is closed by the next call from another loop.
    """

    def __init__(self, open_session: Callable[[], Awaitable[AsyncSession]]) -> None:
        self._open = open_session
        self._loops: dict[asyncio.AbstractEventLoop, _LoopEntry] = {}

    async def get(self) -> AsyncSession:
        loop = asyncio.get_running_loop()
        if loop not in self._loops:
            await self._close_dead_loops()
        entry = self._loops.setdefault(loop, _LoopEntry())
        async with entry.lock:  # one connect at once
            if entry.session is None or entry.session.closed:
                entry.session = await self._open()
                entry.closer = loop.create_task(_close_with_the_loop(entry.session))
            return entry.session

    async def close(self) -> None:
        """Close this loop's session (a later ``get()`` opens another) and dead loops' ones."""
        await self._close_dead_loops()
        entry = self._loops.pop(asyncio.get_running_loop(), None)
        if entry is not None and entry.session is not None:
            if entry.closer is not None:
                entry.closer.cancel()
            await entry.session.close()

    async def _close_dead_loops(self) -> None:
        for loop in [loop for loop in self._loops if loop.is_closed()]:
            session = self._loops.pop(loop).session
            if session is not None:
                await session.close()  # what is left of it, off its dead loop


async def _close_with_the_loop(session: AsyncSession) -> None:
    # The loop's shutdown cancels this task: the session's last chance to close on its loop.
    try:
        await asyncio.get_running_loop().create_future()
    except asyncio.CancelledError:
        await session.close()
        raise
