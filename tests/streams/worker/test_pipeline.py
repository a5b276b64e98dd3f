"""The batch loop: outputs of one batch are sent while the next is applied, in order,
and a batch is acked only once its own outputs went out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from streams.worker.pipeline import Finish, run_pipelined

Log = list[tuple[str, tuple[int, ...]]]


async def _events(n: int, every_s: float) -> AsyncIterator[int]:
    for i in range(n):
        yield i
        await asyncio.sleep(every_s)
    await asyncio.sleep(0.3)  # the last batches finish before the stream ends


def _run(
    n: int, handle: Callable[[list[int]], Awaitable[Finish | None]], log: Log, every_s: float
) -> None:
    async def ack(event: int) -> None:
        log.append(("ack", (event,)))

    asyncio.run(run_pipelined(_events(n, every_s), handle, ack, max_batch=2, max_wait_s=0.001))


def _sending(log: Log) -> Callable[[list[int]], Awaitable[Finish]]:
    async def handle(batch: list[int]) -> Finish:
        log.append(("apply", tuple(batch)))

        async def send() -> None:
            log.append(("send", tuple(batch)))
            await asyncio.sleep(0.05)  # a slow broker: the next batch is applied meanwhile
            log.append(("sent", tuple(batch)))

        return send

    return handle


def test_the_next_batch_is_applied_while_one_is_sent_and_each_is_acked_after_its_send() -> None:
    log: Log = []
    _run(6, _sending(log), log, every_s=0.01)
    batches = [b for step, b in log if step == "apply"]
    assert sorted(e for b in batches for e in b) == list(range(6))
    for batch in batches:
        sent = log.index(("sent", batch))
        assert all(log.index(("ack", (e,))) > sent for e in batch)
    sends = [(step, b) for step, b in log if step in ("send", "sent")]
    assert sends == [(s, b) for b in batches for s in ("send", "sent")]  # in order, one at a time
    first, second = log.index(("send", batches[0])), log.index(("sent", batches[0]))
    assert ("apply", batches[1]) in log[first:second]


def test_a_failed_send_leaves_its_batch_unacked_and_the_stream_goes_on() -> None:
    log: Log = []

    async def handle(batch: list[int]) -> Finish:
        async def send() -> None:
            if 0 in batch:
                raise RuntimeError("broker gone")

        return send

    _run(4, handle, log, every_s=0.05)  # one event per batch
    assert log == [("ack", (1,)), ("ack", (2,)), ("ack", (3,))]


def test_a_handler_that_finishes_itself_is_acked_at_once() -> None:
    log: Log = []

    async def handle(batch: list[int]) -> None:
        log.append(("done", tuple(batch)))

    _run(3, handle, log, every_s=0.05)
    assert log == [(step, (e,)) for e in range(3) for step in ("done", "ack")]
