"""One Cassandra session per ASGI application, handed to every request through the scope.

The session is opened when the server starts the application (ASGI lifespan), before the
wrapped app sees ``lifespan.startup``, so the app's own lifespan can already use it. Requests
read it from ``scope["state"]``, which servers copy from the lifespan state into each request;
that is what makes ``request.state.cassandra`` work in Starlette and FastAPI, and what lets
mounted sub-apps (which never get a lifespan of their own) see the outer app's session.

Everything about talking to Cassandra is the core's job; this module only decides *when* to
connect and close and *where* to put the session.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from asgiref.typing import (
    ASGIReceiveCallable,
    ASGIReceiveEvent,
    ASGISendCallable,
    ASGISendEvent,
    LifespanScope,
    Scope,
)

from ..config import CassandraConfig
from ..errors import CassandraASGIError, ConfigError, LifespanNotRunError, StartupHookError
from ..lifetime import OnConnect, open_app_session
from ..session import AsyncSession

__all__ = ["CassandraMiddleware", "SessionNotFoundError", "get_session"]

logger = logging.getLogger(__name__)

#: Any ASGI 3 application. asgiref's TypedDict scopes and the ``MutableMapping[str, Any]`` scopes
#: of Starlette, httpx and uvicorn are not assignable to one another under mypy, so the public
#: boundary is typed loosely (as Starlette's own ``Middleware`` does) and the body narrows to
#: asgiref's types.
AnyASGIApp = Callable[[Any, Any, Any], Awaitable[None]]

#: Lifespan-scope key listing the state keys claimed by the middlewares of one application, so
#: that a duplicate key is caught even when the server provides no ``state`` dict.
_CLAIMED_KEYS = "cassandra_asgi.state_keys"


class SessionNotFoundError(CassandraASGIError, LookupError):
    """``get_session()`` found no session where ``CassandraMiddleware`` would have put it."""


class _LifespanRun:
    """Where one lifespan conversation between server, middleware and app stands."""

    def __init__(self, session: AsyncSession) -> None:
        self.session: AsyncSession | None = session
        self.startup_taken = False  # the app has read lifespan.startup
        self.startup_answered = False  # startup.complete or startup.failed reached the server
        self.startup_failed = False
        self.shutdown_received = False
        self.shutdown_answered = False


class CassandraMiddleware:
    """Open a session at startup, share it with every request, close it at shutdown.

    ``config=None`` reads ``CassandraConfig.from_env()`` at each startup (not here), so an app
    built at import time still picks up variables a test or a process manager sets later.

    ``on_connect(session)`` runs after each connect and before the app sees startup: the place
    for creating a schema or preparing statements, since a Starlette or FastAPI lifespan
    function is never handed the scope state. If it raises, startup fails as a failed connect
    does.
    """

    def __init__(
        self,
        app: AnyASGIApp,
        config: CassandraConfig | None = None,
        *,
        state_key: str = "cassandra",
        lazy: bool = False,
        on_connect: OnConnect | None = None,
    ) -> None:
        if not isinstance(state_key, str) or not state_key:
            raise ConfigError(f"state_key: expected a non-empty string, got {state_key!r}")
        if config is not None and not isinstance(config, CassandraConfig):
            raise ConfigError(f"config: expected a CassandraConfig or None, got {config!r}")
        self.app = app
        self.config = config
        self.state_key = state_key
        self.lazy = lazy
        self.on_connect = on_connect
        # Our own references: some servers (granian) clear the state dict at shutdown, and
        # servers without lifespan state need the session injected into each request.
        self._lifespan_session: AsyncSession | None = None
        # lazy=True: one session per event loop. Starlette's TestClient without `with` runs each
        # request on a new loop, and a session only works on the loop that connected it.
        self._lazy_sessions: dict[asyncio.AbstractEventLoop, AsyncSession] = {}
        self._lazy_locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._handle(scope, receive, send)

    async def _handle(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if scope["type"] in ("http", "websocket"):
            state = scope.get("state")
            if state is None or state.get(self.state_key) is None:
                session = self._lifespan_session
                if session is None:
                    session = await self._session_without_lifespan()
                if state is None:
                    state = scope["state"] = {}
                state[self.state_key] = session
        await self.app(scope, receive, send)

    async def aclose(self) -> None:
        """Close the session ``lazy=True`` opened on this event loop (a later request reopens
        one), and shut down any left behind by event loops that have since closed."""
        await self._drop_sessions_of_closed_loops()
        session = self._lazy_sessions.pop(asyncio.get_running_loop(), None)
        if session is not None:
            await session.close()

    async def _session_without_lifespan(self) -> AsyncSession:
        if not self.lazy:
            raise LifespanNotRunError(
                f"CassandraMiddleware(state_key={self.state_key!r}) has no Cassandra session: "
                "the ASGI server never ran the lifespan protocol, which is when it connects. "
                "Run the server with lifespan enabled (uvicorn: --lifespan on or auto, the "
                "default), use Starlette's TestClient as a context manager (`with "
                "TestClient(app) as client:`), wrap the app in asgi_lifespan.LifespanManager "
                "when testing with httpx.ASGITransport, or pass lazy=True to connect on the "
                "first request."
            )
        loop = asyncio.get_running_loop()
        session = self._lazy_sessions.get(loop)
        if session is None or session.closed:
            await self._drop_sessions_of_closed_loops()
            async with self._lazy_locks.setdefault(loop, asyncio.Lock()):  # one connect at once
                session = self._lazy_sessions.get(loop)
                if session is None or session.closed:
                    session = await self._open()
                    self._lazy_sessions[loop] = session
        return session

    async def _drop_sessions_of_closed_loops(self) -> None:
        for loop in [loop for loop in self._lazy_sessions if loop.is_closed()]:
            stale = self._lazy_sessions.pop(loop)
            self._lazy_locks.pop(loop, None)
            # The core can only close a session on its own loop, which is gone: stop the
            # driver's Cluster (threads, sockets) directly, off this loop.
            await asyncio.to_thread(stale.cluster.shutdown)

    async def _open(self) -> AsyncSession:
        return await open_app_session(self.config, self.on_connect)

    def _describe(self, what: str, exc: BaseException) -> str:
        return f"CassandraMiddleware(state_key={self.state_key!r}): {what}: {exc}"

    async def _lifespan(
        self, scope: LifespanScope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        first = await receive()
        if first["type"] != "lifespan.startup":
            raise RuntimeError(f"ASGI server broke the lifespan protocol: got {first['type']!r}")
        state = scope.get("state")
        claimed: set[str] = cast(dict[str, Any], scope).setdefault(_CLAIMED_KEYS, set())
        try:
            if self.state_key in claimed or (state is not None and self.state_key in state):
                raise ConfigError(
                    f"state_key {self.state_key!r} is already used in this application's "
                    "lifespan state (two CassandraMiddleware with the same key?); give each "
                    "middleware its own state_key"
                )
            session = await self._open()
        except Exception as exc:
            # A bare exception would make uvicorn's lifespan="auto" serve without a database.
            what = (
                "startup failed"
                if isinstance(exc, StartupHookError)
                else "no Cassandra session at startup"
            )
            message = self._describe(what, exc)
            await send({"type": "lifespan.startup.failed", "message": message})
            raise
        claimed.add(self.state_key)
        run = _LifespanRun(session)
        self._lifespan_session = session
        if state is not None:
            state[self.state_key] = session
        try:
            await self._run_app(run, scope, receive, send)
        finally:
            await self._close(run)  # a no-op unless the task was cancelled mid-way
            claimed.discard(self.state_key)
            if state is not None and state.get(self.state_key) is session:
                del state[self.state_key]

    async def _run_app(
        self,
        run: _LifespanRun,
        scope: LifespanScope,
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
    ) -> None:
        async def app_receive() -> ASGIReceiveEvent:
            if not run.startup_taken:
                run.startup_taken = True
                return {"type": "lifespan.startup"}
            message = await receive()
            run.shutdown_received |= message["type"] == "lifespan.shutdown"
            return message

        async def app_send(message: ASGISendEvent) -> None:
            if message["type"] in ("lifespan.startup.complete", "lifespan.startup.failed"):
                run.startup_answered = True
                if message["type"] == "lifespan.startup.failed":
                    run.startup_failed = True
                    await self._close(run)
            elif message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                run.shutdown_answered = True
                failure = await self._close(run)
                if failure is not None and message["type"] == "lifespan.shutdown.complete":
                    message = {"type": "lifespan.shutdown.failed", "message": failure}
            await send(message)

        try:
            await self.app(scope, app_receive, app_send)
        except Exception as exc:
            if run.startup_failed or run.shutdown_answered:
                raise
            if run.startup_taken:  # the app speaks lifespan and failed: say so, then re-raise
                await self._close(run)
                if not run.startup_answered:
                    message = self._describe("application startup failed", exc)
                    await send({"type": "lifespan.startup.failed", "message": message})
                elif run.shutdown_received:
                    message = self._describe("application shutdown failed", exc)
                    await send({"type": "lifespan.shutdown.failed", "message": message})
                raise
            # Raising before reading startup is how an app says it has no lifespan support.
            logger.debug("the wrapped app does not handle lifespan (%r); running it alone", exc)
        if run.startup_failed:
            return
        # Whatever the app left unanswered (or all of it, if it ignores lifespan), we answer.
        if not run.startup_answered:
            run.startup_answered = True
            await send({"type": "lifespan.startup.complete"})
        if not run.shutdown_answered:
            while not run.shutdown_received:
                run.shutdown_received = (await receive())["type"] == "lifespan.shutdown"
            run.shutdown_answered = True
            failure = await self._close(run)
            if failure is None:
                await send({"type": "lifespan.shutdown.complete"})
            else:
                await send({"type": "lifespan.shutdown.failed", "message": failure})

    async def _close(self, run: _LifespanRun) -> str | None:
        """Close the run's session once; return a message describing a failure, if any."""
        session, run.session = run.session, None
        if session is None:
            return None
        if self._lifespan_session is session:
            self._lifespan_session = None
        try:
            await session.close()
        except Exception as exc:
            logger.exception("closing the Cassandra session failed")
            return self._describe("closing the Cassandra session failed", exc)
        return None


def get_session(request_or_scope: Any, state_key: str = "cassandra") -> AsyncSession:
    """The session ``CassandraMiddleware`` put in a request's scope.

    Accepts anything with a ``.scope`` (Starlette/FastAPI ``Request``, ``WebSocket``,
    ``HTTPConnection``) or a raw ASGI scope dict.
    """
    scope = getattr(request_or_scope, "scope", request_or_scope)
    if not isinstance(scope, Mapping):
        raise TypeError(
            f"get_session() expects a request, a websocket or an ASGI scope, "
            f"got {type(request_or_scope).__name__}"
        )
    state = scope.get("state")
    session = state.get(state_key) if isinstance(state, Mapping) else None
    if not isinstance(session, AsyncSession):
        raise SessionNotFoundError(
            f"no Cassandra session in scope['state'][{state_key!r}]: wrap the outermost "
            f"application in CassandraMiddleware(app, state_key={state_key!r}) (mounted "
            "sub-apps inherit it) and make sure the request went through it"
        )
    return session
