"""The benchmark's yardstick: a faust agent that only counts events, in batches as the worker.

Run as ``python -m streams.devtools.bare_agent`` with the worker's settings in the
environment plus ``BARE_EXPECT`` (events to count) and ``BARE_RESULT`` (where
to write ``{"events", "seconds", "cpu_seconds"}``, from the first event to the last;
``cpu_seconds`` is this process's CPU time over the same span).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import faust
import orjson

from streams.security import faust_credentials
from streams.settings import Settings
from streams.worker.fetch_tuning import bound_fetch_wait
from streams.worker.lean_drain import lean_delivery
from streams.worker.pipeline import run_pipelined


def main() -> None:
    settings = Settings.from_env()
    expect = int(os.environ["BARE_EXPECT"])
    result = Path(os.environ["BARE_RESULT"])
    bound_fetch_wait(settings.fetch_max_wait_ms)
    lean_delivery()
    asyncio.set_event_loop(asyncio.new_event_loop())
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        web_enabled=False,
        autodiscover=False,
        broker_rebalance_timeout=settings.broker_rebalance_timeout_s,
        broker_session_timeout=settings.broker_session_timeout_s,
        consumer_auto_offset_reset="earliest",
        broker_credentials=faust_credentials(settings),
    )
    topic = app.topic(
        settings.topic_interactions,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )

    @app.agent(topic)
    async def count(stream: faust.StreamT[bytes]) -> None:
        # Consumed as the worker consumes: the same pipelined batches of up to
        # batch_size events, acked after each batch.
        seen, first, first_cpu = 0, 0.0, 0.0

        async def handle(events: list[faust.EventT[Any]]) -> None:
            nonlocal seen, first, first_cpu
            if not seen:
                first, first_cpu = time.monotonic(), time.process_time()
            seen += len(events)
            if seen >= expect:
                elapsed = time.monotonic() - first
                cpu = time.process_time() - first_cpu
                result.write_bytes(
                    orjson.dumps({"events": seen, "seconds": elapsed, "cpu_seconds": cpu})
                )

        manual = stream.noack()  # type: ignore[attr-defined]  # on Stream, not StreamT
        await run_pipelined(
            manual.events(), handle, manual.ack, settings.batch_size, settings.batch_within_s
        )

    faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
