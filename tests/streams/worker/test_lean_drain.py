"""Inline delivery gives the answers faust's wait_first gives, without its tasks."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pytest
from mode import Service

from streams.worker.lean_drain import _wait_first


class _Consumer(Service):
    """Stands in for faust's consumer: wait_first is mode's, as on the real one."""


def _run(body: Any) -> Any:
    async def go() -> Any:
        service = _Consumer()
        return await body(service)

    return asyncio.run(go())


def test_a_callback_that_never_suspends_is_done_inline() -> None:
    async def callback() -> str:
        return "delivered"

    async def body(service: _Consumer) -> Any:
        suspend = asyncio.Event()
        tasks_before = len(asyncio.all_tasks())
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the unstarted suspend.wait() is closed
            result = await _wait_first(service, callback(), suspend.wait())
        return result, len(asyncio.all_tasks()) - tasks_before

    result, new_tasks = _run(body)
    assert result.results == ["delivered"] and not result.stopped
    assert new_tasks == 0


def test_a_callback_that_suspends_finishes_as_before() -> None:
    async def body(service: _Consumer) -> Any:
        room = asyncio.Event()

        async def callback() -> str:
            await room.wait()
            await asyncio.sleep(0)
            return "delivered late"

        asyncio.get_running_loop().call_later(0.01, room.set)
        return await _wait_first(service, callback(), asyncio.Event().wait())

    result = _run(body)
    assert "delivered late" in result.results


def test_suspended_flow_still_interrupts_a_waiting_callback() -> None:
    async def body(service: _Consumer) -> Any:
        suspend, cancelled = asyncio.Event(), asyncio.Event()

        async def callback() -> None:
            try:
                await asyncio.Event().wait()  # a full queue that never drains
            except asyncio.CancelledError:
                cancelled.set()
                raise

        asyncio.get_running_loop().call_later(0.01, suspend.set)
        result = await _wait_first(service, callback(), suspend.wait())
        await asyncio.sleep(0)
        return result, cancelled.is_set()

    result, cancelled = _run(body)
    assert result.results == [True] and cancelled  # the suspension won


def test_an_error_in_the_callback_propagates() -> None:
    async def callback() -> None:
        raise ValueError("bad message")

    async def body(service: _Consumer) -> Any:
        return await _wait_first(service, callback(), asyncio.Event().wait())

    with pytest.raises(ValueError, match="bad message"):
        _run(body)
