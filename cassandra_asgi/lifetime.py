"""Opening a session for an application's lifetime: the one startup path every adapter shares.

The ASGI middleware, the aiohttp cleanup context and the framework plugins all do the same
thing at startup: read the config (from the environment when none was given, at startup rather
than at import so each worker reads its own), connect, run the application's ``on_connect``
hook, and close the session again if the hook fails. Writing that once keeps their errors and
their cleanup identical.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from .config import CassandraConfig
from .connect import connect
from .errors import StartupHookError
from .session import AsyncSession

__all__ = ["OnConnect", "describe_hook", "open_app_session"]

log = logging.getLogger("cassandra_asgi")

#: Startup work that needs the session (creating a schema, preparing statements).
OnConnect = Callable[[AsyncSession], Awaitable[object]]


def describe_hook(hook: object) -> str:
    """``module.qualname`` of a hook, for messages that must say which one failed."""
    module = getattr(hook, "__module__", None)
    name = getattr(hook, "__qualname__", None) or repr(hook)
    return f"{module}.{name}" if module else name


async def open_app_session(
    config: CassandraConfig | None, on_connect: OnConnect | None = None
) -> AsyncSession:
    """Connect (``config=None``: ``CassandraConfig.from_env()``), then run ``on_connect``.

    Connect failures raise ``ConnectError`` (or ``ConfigError`` for a bad environment). A hook
    that raises closes the session and raises ``StartupHookError`` naming the hook, with the
    hook's traceback logged, so the user is not sent to look for a network problem.
    """
    session = await connect(CassandraConfig.from_env() if config is None else config)
    if on_connect is None:
        return session
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
    return session
