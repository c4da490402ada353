"""A session belongs to its process and its event loop; misuse fails fast and clearly."""

from __future__ import annotations

import asyncio
import os
import threading
import warnings

from cassandra_asgi import AsyncSession, ForkedSessionError, WrongEventLoopError

PING = "SELECT release_version FROM system.local"


async def test_use_from_another_event_loop_raises_wrong_event_loop_error(
    cassandra_session: AsyncSession,
) -> None:
    errors: list[BaseException] = []

    def other_loop() -> None:
        try:
            asyncio.run(cassandra_session.execute(PING))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=other_loop)
    thread.start()
    thread.join(10)
    assert len(errors) == 1
    assert isinstance(errors[0], WrongEventLoopError)
    assert "one session per event loop" in str(errors[0])
    assert (await cassandra_session.execute(PING)).one() is not None  # still fine at home


async def test_use_in_a_forked_child_raises_forked_session_error(
    cassandra_session: AsyncSession,
) -> None:
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads running
        pid = os.fork()
    if pid == 0:  # the child: report what happened and leave without running any cleanup
        try:
            try:
                asyncio.run(cassandra_session.execute(PING))
                outcome = "no error"
            except BaseException as exc:
                outcome = type(exc).__name__
            os.write(write_end, outcome.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        report = os.read(read_end, 200).decode()
    finally:
        os.close(read_end)
        await asyncio.to_thread(os.waitpid, pid, 0)
    assert report == ForkedSessionError.__name__
    assert (await cassandra_session.execute(PING)).one() is not None  # the parent is unaffected
