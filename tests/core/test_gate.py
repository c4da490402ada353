"""Admission: a cap with FIFO hand-over, per-page deadlines, refusal at shutdown, an idle signal."""

from __future__ import annotations

import asyncio

import pytest
from cassandra import OperationTimedOut
from hypothesis import given, settings
from hypothesis import strategies as st

from cassandra_asgi._gate import Deadline, InFlightGate
from cassandra_asgi.errors import SessionClosedError


def _admitted_at_once(gate: InFlightGate, budget: float | None = None) -> bool:
    return gate.admit(budget).slot is None


async def _admitted(gate: InFlightGate, budget: float | None = None) -> Deadline:
    deadline = gate.admit(budget)
    if deadline.slot is not None:
        await gate.wait(deadline)
    return deadline


async def test_slots_are_free_up_to_the_limit() -> None:
    gate = InFlightGate(asyncio.get_running_loop(), 2)
    assert _admitted_at_once(gate)
    assert _admitted_at_once(gate)
    assert not _admitted_at_once(gate)
    assert gate.in_flight == 2


async def test_released_slot_goes_to_the_oldest_waiter_first() -> None:
    gate = InFlightGate(asyncio.get_running_loop(), 1)
    assert _admitted_at_once(gate)
    order: list[str] = []

    async def wait(name: str) -> None:
        await _admitted(gate)
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
    assert _admitted_at_once(gate)
    waiter = asyncio.create_task(_admitted(gate))
    await asyncio.sleep(0)
    gate.release()
    assert gate.admit(None).slot is not None
    await waiter


async def test_waiting_past_the_budget_raises_operation_timed_out() -> None:
    gate = InFlightGate(asyncio.get_running_loop(), 1)
    assert _admitted_at_once(gate)
    with pytest.raises(OperationTimedOut, match="max_in_flight=1"):
        await _admitted(gate, 0.01)
    gate.release()
    assert gate.in_flight == 0


async def test_a_page_admitted_at_once_keeps_its_whole_budget() -> None:
    gate = InFlightGate(asyncio.get_running_loop(), 2)
    deadline = gate.admit(2.5)
    assert deadline.slot is None
    await asyncio.sleep(0.02)
    assert deadline.remaining() == 2.5
    assert gate.admit(None).remaining() is None  # no budget: no limit at all


async def test_time_spent_queueing_comes_off_that_page_only() -> None:
    loop = asyncio.get_running_loop()
    gate = InFlightGate(loop, 1)
    assert _admitted_at_once(gate)
    loop.call_later(0.05, gate.release)
    queued = await _admitted(gate, 5)
    left = queued.remaining()
    assert left is not None
    assert 4.0 < left <= 4.96
    gate.release()
    assert gate.admit(5).remaining() == 5  # the next page starts afresh


async def test_a_page_whose_budget_was_spent_queueing_raises_when_asked() -> None:
    loop = asyncio.get_running_loop()
    gate = InFlightGate(loop, 1)
    assert _admitted_at_once(gate)
    deadline = gate.admit(0.01)
    assert deadline.slot is not None
    gate.release()  # handed over before the queue timer ran...
    await asyncio.sleep(0.03)  # ...but only asked after the budget ran out
    with pytest.raises(OperationTimedOut, match="max_in_flight=1"):
        deadline.remaining()


async def test_refusal_fails_queued_pages_and_admitted_ones_not_yet_sent() -> None:
    gate = InFlightGate(asyncio.get_running_loop(), 1)
    admitted = gate.admit(None)
    queued = asyncio.create_task(_admitted(gate))
    await asyncio.sleep(0)
    gate.refuse("shutting down")
    with pytest.raises(SessionClosedError, match="shutting down"):
        await queued
    with pytest.raises(SessionClosedError, match="shutting down"):
        admitted.remaining()


async def test_a_cancelled_waiter_does_not_keep_a_slot() -> None:
    gate = InFlightGate(asyncio.get_running_loop(), 1)
    assert _admitted_at_once(gate)
    waiter = asyncio.create_task(_admitted(gate))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    gate.release()
    assert gate.in_flight == 0
    assert _admitted_at_once(gate)


async def test_a_slot_handed_to_a_waiter_cancelled_meanwhile_is_passed_on() -> None:
    gate = InFlightGate(asyncio.get_running_loop(), 1)
    assert _admitted_at_once(gate)
    waiter = asyncio.create_task(_admitted(gate))
    await asyncio.sleep(0)
    gate.release()  # the slot is handed over...
    waiter.cancel()  # ...but the waiter is cancelled before it resumes
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert gate.in_flight == 0


async def test_wait_idle_returns_when_the_last_slot_is_released() -> None:
    loop = asyncio.get_running_loop()
    gate = InFlightGate(loop, 3)
    assert _admitted_at_once(gate)
    assert _admitted_at_once(gate)
    loop.call_later(0.01, gate.release)
    loop.call_later(0.02, gate.release)
    assert await gate.wait_idle(5)
    assert gate.in_flight == 0


async def test_wait_idle_gives_up_after_the_grace_period() -> None:
    gate = InFlightGate(asyncio.get_running_loop(), 1)
    assert _admitted_at_once(gate)
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
        waiting: list[asyncio.Task[None]] = []

        def settle_finished() -> None:
            nonlocal holders
            for task in [t for t in waiting if t.done()]:
                waiting.remove(task)
                if not task.cancelled():
                    holders += 1

        for step in steps:
            if step == "acquire":
                deadline = gate.admit(None)
                if deadline.slot is None:
                    holders += 1
                else:
                    waiting.append(asyncio.ensure_future(gate.wait(deadline)))
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
