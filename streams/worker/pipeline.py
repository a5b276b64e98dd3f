"""Consumes a stream while the previous batch is being applied: batches form under load.

faust's ``take_events`` stops filling its buffer while the agent holds a
batch and then waits up to a fixed window for the next one, so a worker
alternated between consuming and applying, and every event waited out the
window. Here one task keeps taking events from the stream while another
applies whatever has arrived (up to ``max_batch``) as soon as it is free,
after letting the consumer hand over what it has already fetched: at a low
rate a batch is one event and nobody waits; under load batches grow to
``max_batch``.

Events are acked (so faust may commit them) only after their batch was
handled: a crash replays them, and the per-user offsets in Redis skip what
was applied.

A handler may leave the end of its work (the worker: sending the batch's
outputs, a broker round trip) to a :data:`Finish` it returns: the next batch
is applied while it runs, and it is awaited before the next batch's finish
starts (outputs stay in batch order) and before its own batch is acked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterable, Awaitable, Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

E = TypeVar("E")
Finish = Callable[[], Coroutine[Any, Any, None]]
"""What is left of a handled batch, run while the next batch is applied."""


async def run_pipelined(
    events: AsyncIterable[E],
    handle: Callable[[list[E]], Awaitable[Finish | None]],
    ack: Callable[[E], Awaitable[object]],
    max_batch: int,
    max_wait_s: float,
    gap_s: float = 0.0005,
) -> None:
    """Feed ``events`` to ``handle`` in order, in batches, acking each handled batch.

    ``handle`` (and the finish it returns) must not raise (the worker's batch
    path does not); if one does, the batch is logged and left unacked, so it is
    replayed after a restart.
    """
    pending: deque[E] = deque()
    arrived = asyncio.Event()
    room = asyncio.Event()
    room.set()
    limit = 2 * max_batch
    loop = asyncio.get_running_loop()

    async def gather() -> None:
        """Wait for more only while events keep coming faster than one per ``gap_s``:
        under load that fills a batch (up to ``max_wait_s``), at a low rate it
        returns at once."""
        deadline = loop.time() + max_wait_s
        while len(pending) < max_batch and loop.time() < deadline:
            before = len(pending)
            await asyncio.sleep(gap_s)
            if len(pending) == before:
                return

    finishing: list[tuple[asyncio.Task[None], list[E]]] = []  # at most one

    async def settle() -> None:
        """Wait for the batch being finished, then ack it."""
        if not finishing:
            return
        task, batch = finishing.pop()
        try:
            await task
        except asyncio.CancelledError:
            if not task.cancelled():  # this task was cancelled, not the finish
                raise
            return
        except Exception:
            log.exception("a batch of %d could not be finished; left unacked", len(batch))
            return
        for event in batch:
            await ack(event)

    async def idle() -> None:
        """Wait for events; ack the batch being finished as soon as it is."""
        if not finishing:
            await arrived.wait()
            return
        waiter = asyncio.create_task(arrived.wait())
        try:
            await asyncio.wait({finishing[0][0], waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if finishing[0][0].done():
            await settle()

    async def apply() -> None:
        while True:
            if not pending:
                arrived.clear()
                await idle()
                continue
            await gather()
            batch = [pending.popleft() for _ in range(min(len(pending), max_batch))]
            if len(pending) < limit:
                room.set()
            try:
                finish = await handle(batch)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("a batch of %d could not be handled; left unacked", len(batch))
                continue
            await settle()  # the previous batch's finish goes first
            if finish is None:
                for event in batch:
                    await ack(event)
            else:
                finishing.append((asyncio.create_task(finish()), batch))

    async def apply_then_cancel() -> None:
        try:
            await apply()
        finally:
            for task, _ in finishing:
                task.cancel()

    worker = asyncio.create_task(apply_then_cancel())
    try:
        async for event in events:
            pending.append(event)
            arrived.set()
            if len(pending) >= limit:
                room.clear()
                waiter = asyncio.create_task(room.wait())
                await asyncio.wait({waiter, worker}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                if worker.done():
                    worker.result()  # re-raise what stopped it
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
