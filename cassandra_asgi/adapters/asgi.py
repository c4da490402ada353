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
import contextlib
import enum
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
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
from ..health import DEFAULT_HEALTH_TIMEOUT
from ..lifetime import OnConnect, open_app_session
from ..session import AsyncSession

__all__ = [
    "CassandraMiddleware",
    "HealthEndpoint",
    "SessionNotFoundError",
    "get_session",
    "health_endpoint",
]

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


class _Phase(enum.Enum):
    """Where one lifespan conversation stands, as the wrapped app sees it."""

    WAITING = "the app has not read lifespan.startup"
    STARTING = "the app read lifespan.startup and has not answered"
    RUNNING = "startup is complete; the server has not sent lifespan.shutdown"
    STOPPING = "the server sent lifespan.shutdown; the app has not answered"
    ENDED = "startup failed or shutdown was answered: the session is closed"


class _Relay:
    """One lifespan conversation between the server and the wrapped app. The session closes as
    soon as the app is done with it, before the server hears so; whatever the app leaves
    unanswered (all of it, for an app without lifespan support), the relay answers."""

    def __init__(
        self,
        session: AsyncSession,
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
        describe: Callable[[str, BaseException], str],
    ) -> None:
        self.phase = _Phase.WAITING
        self._session: AsyncSession | None = session
        self._receive, self._send, self._describe = receive, send, describe

    async def receive(self) -> ASGIReceiveEvent:
        if self.phase is _Phase.WAITING:  # the middleware already took it from the server
            self.phase = _Phase.STARTING
            return {"type": "lifespan.startup"}
        message = await self._receive()
        if message["type"] == "lifespan.shutdown":
            self.phase = _Phase.STOPPING
        return message

    async def send(self, message: ASGISendEvent) -> None:
        if message["type"] == "lifespan.startup.complete":
            self.phase = _Phase.RUNNING
            await self._send(message)
            return
        # startup.failed, shutdown.complete or shutdown.failed: the app is done with the session
        self.phase = _Phase.ENDED
        failure = await self.close()
        if failure is not None and message["type"] == "lifespan.shutdown.complete":
            message = {"type": "lifespan.shutdown.failed", "message": failure}
        await self._send(message)

    async def app_failed(self, exc: Exception) -> None:
        """The app raised while speaking lifespan: tell the server what it was doing."""
        if self.phase is _Phase.STARTING:
            message = self._describe("application startup failed", exc)
            await self.send({"type": "lifespan.startup.failed", "message": message})
        elif self.phase is _Phase.STOPPING:
            message = self._describe("application shutdown failed", exc)
            await self.send({"type": "lifespan.shutdown.failed", "message": message})
        else:
            self.phase = _Phase.ENDED
            await self.close()

    async def finish(self) -> None:
        """The app returned: answer what it left unanswered."""
        if self.phase in (_Phase.WAITING, _Phase.STARTING):
            await self.send({"type": "lifespan.startup.complete"})
        while self.phase is _Phase.RUNNING:
            await self.receive()
        if self.phase is _Phase.STOPPING:
            await self.send({"type": "lifespan.shutdown.complete"})

    async def close(self) -> str | None:
        """Close the session once; return a message describing a failure, if any."""
        session, self._session = self._session, None
        try:
            if session is not None:
                await session.close()
        except Exception as exc:
            logger.exception("closing the Cassandra session failed")
            return self._describe("closing the Cassandra session failed", exc)
        return None


@dataclass
class _LoopSession:
    """``lazy=True``: one event loop's session, and the task that closes it with the loop."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    session: AsyncSession | None = None
    closer: asyncio.Task[None] | None = None


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
        self._lazy: dict[asyncio.AbstractEventLoop, _LoopSession] = {}

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
        one), and any left behind by event loops closed without shutting down their tasks."""
        await self._close_sessions_of_closed_loops()
        entry = self._lazy.pop(asyncio.get_running_loop(), None)
        if entry is not None and entry.session is not None:
            if entry.closer is not None:
                entry.closer.cancel()
            await entry.session.close()

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
        if loop not in self._lazy:
            await self._close_sessions_of_closed_loops()
        entry = self._lazy.setdefault(loop, _LoopSession())
        async with entry.lock:  # one connect at once
            if entry.session is None or entry.session.closed:
                entry.session = await self._open()
                entry.closer = loop.create_task(self._close_with_the_loop(entry.session))
            return entry.session

    @staticmethod
    async def _close_with_the_loop(session: AsyncSession) -> None:
        # asyncio.run(), asyncio.Runner and anyio (TestClient without `with`) cancel every task
        # before closing a loop: the session's last chance to close on its own loop, as it must.
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            await session.close()
            raise

    async def _close_sessions_of_closed_loops(self) -> None:
        for loop in [loop for loop in self._lazy if loop.is_closed()]:
            session = self._lazy.pop(loop).session
            if session is not None:
                await session.close()  # what is left of it, off its dead loop

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
        async with self._published_session(scope, send) as session:
            relay = _Relay(session, receive, send, self._describe)
            try:
                try:
                    await self.app(scope, relay.receive, relay.send)
                except Exception as exc:
                    if relay.phase is not _Phase.WAITING:
                        await relay.app_failed(exc)
                        raise
                    # Raising before reading startup is how an app says it has no lifespan.
                    logger.debug("the wrapped app does not handle lifespan (%r)", exc)
                await relay.finish()
            finally:
                await relay.close()  # a no-op unless the task was cancelled mid-way

    @contextlib.asynccontextmanager
    async def _published_session(
        self, scope: LifespanScope, send: ASGISendCallable
    ) -> AsyncIterator[AsyncSession]:
        """Connect and put the session in the lifespan state for the requests. On failure,
        answer ``lifespan.startup.failed`` (a bare exception would make uvicorn's
        ``lifespan="auto"`` serve without a database)."""
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
            failed = isinstance(exc, StartupHookError)
            what = "startup failed" if failed else "no Cassandra session at startup"
            await send({"type": "lifespan.startup.failed", "message": self._describe(what, exc)})
            raise
        claimed.add(self.state_key)
        self._lifespan_session = session
        if state is not None:
            state[self.state_key] = session
        try:
            yield session
        finally:
            claimed.discard(self.state_key)
            self._lifespan_session = None
            if state is not None and state.get(self.state_key) is session:
                del state[self.state_key]


def get_session(request_or_scope: Any, state_key: str = "cassandra") -> AsyncSession:
    """The session ``CassandraMiddleware`` put in a request's scope.

    Accepts anything with a ``.scope`` (Starlette/FastAPI ``Request``, ``WebSocket``,
    ``HTTPConnection``) or a raw ASGI scope dict.
    """
    scope = getattr(request_or_scope, "scope", request_or_scope)
    if not isinstance(scope, Mapping) and callable(request_or_scope):
        raise TypeError(
            f"get_session() was given an application ({type(request_or_scope).__name__}), not "
            "a request: the session is handed to requests, and exists only while the app "
            "runs. For work at startup pass CassandraMiddleware(app, on_connect=hook), which "
            "runs `await hook(session)` after connecting, or open the session in your own "
            "lifespan with `async with connect(config) as session:`"
        )
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


class HealthEndpoint:
    """An ASGI app answering ``session.health()`` as JSON: 200 when ok, 503 when not.

    A class, not a function, so that Starlette's ``Route`` (and FastAPI's ``add_route``) serve
    it as an ASGI app rather than call it with a request.
    """

    def __init__(self, state_key: str = "cassandra", timeout: float = DEFAULT_HEALTH_TIMEOUT):
        self.state_key = state_key
        self.timeout = timeout

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"the health endpoint serves HTTP, not {scope['type']!r}")
        report = await get_session(scope, self.state_key).health(timeout=self.timeout)
        body = json.dumps(report.as_dict()).encode()
        await send(
            {
                "type": "http.response.start",
                "status": report.http_status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def health_endpoint(
    state_key: str = "cassandra", *, timeout: float = DEFAULT_HEALTH_TIMEOUT
) -> HealthEndpoint:
    """A health check of the session under ``state_key`` for a readiness probe:
    ``Route("/health", health_endpoint())`` (Starlette), ``app.add_route("/health",
    health_endpoint())`` (FastAPI), or called from a raw ASGI app. ``timeout``: seconds the
    check's query may take (docs/observability.md has the policy)."""
    return HealthEndpoint(state_key, timeout)
