"""The in-flight gate: a cap with FIFO hand-over, timeouts and an idle signal."""

from __future__ import annotations

import asyncio

import pytest
from cassandra import OperationTimedOut
from hypothesis import given, settings
from hypothesis import strategies as st

from cassandra_asgi._gate import InFlightGate


async def test_slots_are_free_up_to_the_limit() -> None:
    gate = InFlightGate(asyncio.get_running_loop(), 2)
    assert gate.try_acquire()
    assert gate.try_acquire()
    assert not gate.try_acquire()
    assert gate.in_flight == 2


async def test_released_slot_goes_to_the_oldest_waiter_first() -> None:
    gate = InFlightGate(asyncio.get_running_loop(), 1)
    assert gate.try_acquire()
    order: list[str] = []

    async def wait(name: str) -> None:
        await gate.acquire(None)
        order.append(name)

    first = asyncio.create_task(wait("first"))
    await asyncio.sleep(0)
    second = asyncio.create_task(wait("second"))
    await asyncio.sleep(0)
    assert gate.waiting == 2
    gate.release()
    await first
    assert order == ["first"]
    assert gate.in_flight == 1  # handed over, not freed
    gate.release()
    await second
    assert order == ["first", "second"]


async def test_a_newcomer_cannot_barge_past_queued_waiters() -> None:
    gate = InFlightGate(asyncio.get_running_loop(), 1)
    assert gate.try_acquire()
    waiter = asyncio.create_task(gate.acquire(None))
    await asyncio.sleep(0)
    gate.release()
    assert not gate.try_acquire()
    await waiter


async def test_waiting_past_the_timeout_raises_operation_timed_out() -> None:
    gate = InFlightGate(asyncio.get_running_loop(), 1)
    assert gate.try_acquire()
    with pytest.raises(OperationTimedOut, match="max_in_flight=1"):
        await gate.acquire(0.01)
    gate.release()
    assert gate.in_flight == 0


async def test_acquire_reports_the_time_spent_waiting() -> None:
    loop = asyncio.get_running_loop()
    gate = InFlightGate(loop, 1)
    assert gate.try_acquire()
    loop.call_later(0.05, gate.release)
    waited = await gate.acquire(5)
    assert waited >= 0.04


async def test_a_cancelled_waiter_does_not_keep_a_slot() -> None:
    gate = InFlightGate(asyncio.get_running_loop(), 1)
    assert gate.try_acquire()
    waiter = asyncio.create_task(gate.acquire(None))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    gate.release()
    assert gate.in_flight == 0
    assert gate.try_acquire()


async def test_a_slot_handed_to_a_waiter_cancelled_meanwhile_is_passed_on() -> None:
    gate = InFlightGate(asyncio.get_running_loop(), 1)
    assert gate.try_acquire()
    waiter = asyncio.create_task(gate.acquire(None))
    await asyncio.sleep(0)
    gate.release()  # the slot is handed over...
    waiter.cancel()  # ...but the waiter is cancelled before it resumes
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert gate.in_flight == 0


async def test_wait_idle_returns_when_the_last_slot_is_released() -> None:
    loop = asyncio.get_running_loop()
    gate = InFlightGate(loop, 3)
    assert gate.try_acquire()
    assert gate.try_acquire()
    loop.call_later(0.01, gate.release)
    loop.call_later(0.02, gate.release)
    assert await gate.wait_idle(5)
    assert gate.in_flight == 0


async def test_wait_idle_gives_up_after_the_grace_period() -> None:
    gate = InFlightGate(asyncio.get_running_loop(), 1)
    assert gate.try_acquire()
    assert not await gate.wait_idle(0.01)


@settings(max_examples=60, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=4),
    steps=st.lists(st.sampled_from(["acquire", "release", "cancel", "tick"]), max_size=60),
)
def test_slot_accounting_survives_any_mix_of_acquire_release_and_cancel(
    limit: int, steps: list[str]
) -> None:
    async def scenario() -> None:
        gate = InFlightGate(asyncio.get_running_loop(), limit)
        holders = 0  # slots the scenario owns (acquired and not yet released)
        waiting: list[asyncio.Task[float]] = []

        def settle_finished() -> None:
            nonlocal holders
            for task in [t for t in waiting if t.done()]:
                waiting.remove(task)
                if not task.cancelled():
                    holders += 1

        for step in steps:
            if step == "acquire":
                if gate.try_acquire():
                    holders += 1
                else:
                    waiting.append(asyncio.ensure_future(gate.acquire(None)))
            elif step == "release" and holders:
                holders -= 1
                gate.release()
            elif step == "cancel" and waiting:
                waiting[0].cancel()
            await asyncio.sleep(0)
            settle_finished()
            assert 0 <= gate.in_flight <= limit
        # Drain: keep releasing until every waiter has been served or cancelled.
        while waiting or holders:
            if holders:
                holders -= 1
                gate.release()
            await asyncio.sleep(0)
            settle_finished()
        assert gate.in_flight == 0
        assert gate.waiting == 0

    asyncio.run(scenario())
