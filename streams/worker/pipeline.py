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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)

E = TypeVar("E")


async def run_pipelined(
    events: AsyncIterable[E],
    handle: Callable[[list[E]], Awaitable[None]],
    ack: Callable[[E], Awaitable[object]],
    max_batch: int,
    max_wait_s: float,
    gap_s: float = 0.0005,
) -> None:
    """Feed ``events`` to ``handle`` in order, in batches, acking each handled batch.

    ``handle`` must not raise (the worker's batch path does not); if it does,
    the batch is logged and left unacked, so it is replayed after a restart.
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

    async def apply() -> None:
        while True:
            if not pending:
                arrived.clear()
                await arrived.wait()
                continue
            await gather()
            batch = [pending.popleft() for _ in range(min(len(pending), max_batch))]
            if len(pending) < limit:
                room.set()
            try:
                await handle(batch)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("a batch of %d could not be handled; left unacked", len(batch))
                continue
            for event in batch:
                await ack(event)

    worker = asyncio.create_task(apply())
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
