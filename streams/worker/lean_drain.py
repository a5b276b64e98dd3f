"""Hands each fetched message to faust's streams without four tasks per message.

faust's consumer loop delivers every message as
``await self.wait_first(callback(message), self.suspend_flow.wait())``:
``Service.wait_first`` wraps each argument, and the service's stopped and
crashed events, in a task, waits for the first, and cancels the rest. That
is four tasks and a cancellation round per message, while the callback
(decode, put on the stream's queue) almost never suspends. Profiled under
``interests bench``, this was the largest part of what faust itself costs
per event, in the worker and in the bare agent alike.

:func:`lean_delivery` makes faust's consumers run the callback's first step
inline: a callback that finishes without suspending is done (the answer
``wait_first`` would have given); one that suspends (a full queue,
suspended flow) is resumed inside the original ``wait_first``, so flow
suspension, stop and crash still interrupt it exactly as before.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Coroutine, Generator
from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.services import WaitResults


@types.coroutine
def _resumed(coro: Coroutine[Any, Any, Any], pending: Any) -> Generator[Any, Any, Any]:
    """Go on with ``coro``, which has run up to yielding ``pending`` to its task:
    this generator yields it to the task that runs it now, as ``await`` would."""
    while True:
        try:
            sent = yield pending
        except BaseException as exc:  # cancellation and the like reach the coroutine
            try:
                pending = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                pending = coro.send(sent)
            except StopIteration as stop:
                return stop.value


async def _finish(coro: Coroutine[Any, Any, Any], pending: Any) -> Any:
    return await _resumed(coro, pending)


def _close(coros: tuple[Any, ...]) -> None:
    for coro in coros:
        if asyncio.iscoroutine(coro):
            coro.close()  # never started: nothing to cancel, no "never awaited" warning


async def _wait_first(self: Any, *coros: Any, timeout: Any = None) -> WaitResults:
    first = coros[0] if coros else None
    if (
        timeout is not None
        or not asyncio.iscoroutine(first)
        or self._stopped.is_set()
        or self._crashed.is_set()
    ):
        return await _original_wait_first(self, *coros, timeout=timeout)
    try:
        pending = first.send(None)
    except StopIteration as done:
        _close(coros[1:])
        return WaitResults([first], [done.value], False)
    except BaseException:
        _close(coros[1:])
        raise
    return await _original_wait_first(self, _finish(first, pending), *coros[1:])


_original_wait_first = faust_aiokafka.Consumer.wait_first


def lean_delivery() -> None:
    """Make every faust (aiokafka) consumer in this process deliver messages inline."""
    faust_aiokafka.Consumer.wait_first = _wait_first  # type: ignore[method-assign]
