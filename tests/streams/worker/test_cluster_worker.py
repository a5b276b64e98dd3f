"""End to end on a real 3-primary Redis Cluster: worker processes, trainer, forget.

Only the URL changes (any node of the cluster); every client detects the
cluster from the server.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from redis.cluster import RedisCluster

from state.connection import sync_client
from streams.devtools.embedded import EmbeddedServices, start_worker
from streams.devtools.embedded_cluster import EmbeddedCluster, embedded_cluster, fail_over
from streams.devtools.event_producer import EventProducer
from streams.devtools.synthetic import item_id
from streams.forget import forget_user
from streams.read_side import open_reader
from streams.settings import Settings
from streams.trainer.service import Trainer
from streams.worker.events import Event
from tests.support.harness import events_applied, isolated_settings, produce, wait_until
from tests.support.mixed_stream import mixed_stream

pytestmark = pytest.mark.slow


def _events(user: str, count: int, start: int) -> list[tuple[bytes, bytes]]:
    return [
        (
            user.encode(),
            Event(
                user, item_id(3, n % 20), "view", 1_700_000_000.0 + start + n, f"{user}-{start + n}"
            ).to_json(),
        )
        for n in range(count)
    ]


async def _send(
    settings: Settings, messages: list[tuple[bytes, bytes | None]], rate: float
) -> None:
    async with EventProducer(settings) as producer:
        await producer.send_all(messages, rate)  # type: ignore[arg-type]


def _settings(services: EmbeddedServices, cluster: EmbeddedCluster, tmp_path: Path) -> Settings:
    return isolated_settings(
        services,
        redis_url=cluster.url,
        batch_size=50,
        vector_size=16,
        trainer_epochs=2,
        trainer_max_len=20,
        trainer_gate_slack=1.0,  # a publication is what this needs, not the gate's verdict
        model_dir=str(tmp_path / "models"),
        model_poll_s=0.2,
    )


def test_worker_trainer_and_forget_on_a_cluster_with_exact_counts(
    services: EmbeddedServices, redis_cluster: EmbeddedCluster, tmp_path: Path
) -> None:
    settings = _settings(services, redis_cluster, tmp_path)
    client = sync_client(settings)
    assert isinstance(client, RedisCluster)
    first = mixed_stream(valid=3000, users=60, malformed_every=50, seed=21)
    produce(settings, first.messages)  # type: ignore[arg-type]
    users = sorted(first.valid_per_user)
    nodes = {client.get_node_from_key(f"{settings.redis_prefix}user:{{{u}}}").name for u in users}
    assert len(nodes) == 3, "the users do not span the three primaries; the test proves less"

    # kill -9 mid-stream, then a restart: nothing lost, nothing applied twice.
    worker = start_worker(settings, tmp_path / "worker-1.log")
    try:
        wait_until(
            lambda: 0 < sum(events_applied(settings, users).values()) < 2500,
            timeout=120,
            what="the worker to be mid-stream",
            interval=0.05,
        )
    finally:
        worker.kill()
    worker = start_worker(settings, tmp_path / "worker-2.log")
    try:
        wait_until(
            lambda: events_applied(settings, users) == dict(first.valid_per_user),
            timeout=120,
            what="exact counts after kill -9 and a restart",
        )
        # Shared learner state rides with the next write: a kill -9 may drop the last step.
        assert 0 < int(client.get(f"{settings.redis_prefix}events:total") or 0) <= 3000

        # A trainer refresh publishes a version over the cluster; the worker swaps to it.
        outcome = Trainer(settings).refresh_once()
        assert outcome.published == "gru-1", outcome.result
        reader = open_reader(settings)
        try:
            state = reader.get_user(users[0])
            assert state is not None and state.long_term_version == "gru-1"
        finally:
            reader.close()
        wait_until(
            lambda: "swapped model online -> gru-1" in (tmp_path / "worker-2.log").read_text(),
            timeout=60,
            what="the worker to swap to gru-1",
        )

        # forget: the user's events in the log never come back; later ones start anew.
        gone = users[1]
        assert asyncio.run(forget_user(settings, gone))
        second = mixed_stream(valid=1000, users=60, malformed_every=10_000, seed=22)
        late = _events(gone, 7, start=10_000)
        produce(settings, second.messages + late)  # type: ignore[arg-type]
        expected = first.valid_per_user + second.valid_per_user
        expected[gone] = second.valid_per_user[gone] + len(late)
        wait_until(
            lambda: events_applied(settings, sorted(expected)) == dict(expected),
            timeout=120,
            what="exact counts after the swap and the erasure",
        )
    finally:
        worker.stop()
        client.close()


def test_a_failover_of_every_primary_while_events_flow_keeps_exact_counts(
    services: EmbeddedServices, tmp_path: Path
) -> None:
    with embedded_cluster(tmp_path / "cluster", primaries=3, replicas=1) as cluster:
        settings = _settings(services, cluster, tmp_path)
        stream = mixed_stream(valid=4000, users=60, malformed_every=10_000, seed=23)
        users = sorted(stream.valid_per_user)
        produce(settings, stream.messages[:2000])  # type: ignore[arg-type]
        worker = start_worker(settings, tmp_path / "worker.log")
        try:
            wait_until(
                lambda: sum(events_applied(settings, users).values()) > 0,
                timeout=120,
                what="the worker to start applying",
            )
            # The rest paced over ~8 s from another thread: events flow through the failovers.
            rest = stream.messages[2000:]
            sender = threading.Thread(target=lambda: asyncio.run(_send(settings, rest, 250.0)))
            sender.start()
            try:
                time.sleep(1.0)
                promoted = fail_over(cluster)  # each replica takes over its primary's slots
                still_sending = sender.is_alive()
            finally:
                sender.join()
            assert len(promoted) == 3
            assert still_sending, "the events were all sent before the failovers ended"
            wait_until(
                lambda: events_applied(settings, users) == dict(stream.valid_per_user),
                timeout=180,
                what="exact counts across the failovers",
            )
        finally:
            worker.stop()
