"""Kafka over TLS with client certificates, for real: a worker process, the topic admin,
the producers and consumers of the devtools and ``interests forget`` all reach the
embedded broker only through a TLS front that requires a client certificate
(tests/support/tls_front.py says why a front). SASL is not tested live: see
tests/streams/test_security.py and the README's "Security"."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from streams.devtools.embedded import (
    EmbeddedServices,
    ManagedProcess,
    free_port,
    start_process,
    start_worker,
    tansu_binary,
)
from streams.security import kafka_client_options
from streams.settings import Settings
from tests.support.harness import events_applied, isolated_settings, produce, read_topic, wait_until
from tests.support.tls_front import make_certs, tls_front

pytestmark = pytest.mark.slow


def _tansu_behind(front_port: int, workdir: Path) -> ManagedProcess:
    """A broker listening in plain text on loopback, advertising the TLS front."""
    port = free_port()
    argv = [
        str(tansu_binary()), "broker",
        "--listener-url", f"tcp://127.0.0.1:{port}",
        "--advertised-listener-url", f"tcp://127.0.0.1:{front_port}",
        "--storage-engine", "memory://tansu/",
    ]  # fmt: skip
    return start_process("tansu", argv, port, workdir / "tansu-tls.log")


async def _try_produce(settings: Settings) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        request_timeout_ms=3000,
        **kafka_client_options(settings),
    )
    try:
        await producer.start()
        await producer.send_and_wait(settings.topic_interactions, b"{}", key=b"k")
    finally:
        await producer.stop()


def test_every_kafka_client_works_over_tls_with_a_client_certificate(
    services: EmbeddedServices, tmp_path: Path
) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    make_certs(certs)
    front_port = free_port()
    broker = _tansu_behind(front_port, tmp_path)
    try:
        with tls_front(front_port, broker.port, certs) as accepted:
            settings = isolated_settings(  # ensure_topics: the admin client over TLS
                services,
                kafka_bootstrap=f"127.0.0.1:{front_port}",
                kafka_security_protocol="SSL",
                kafka_ssl_ca=str(certs / "ca.crt"),
                kafka_ssl_cert=str(certs / "client.crt"),
                kafka_ssl_key=str(certs / "client.key"),
            )
            users = [f"tls-{i}" for i in range(5)]
            now = time.time() - 60
            produce(  # the devtools' producer over TLS
                settings,
                [
                    (u.encode(), orjson.dumps({"user_id": u, "item_id": f"i{r}",
                                               "type": "view", "ts": now + r}))
                    for r in range(20)
                    for u in users
                ],
            )  # fmt: skip
            worker = start_worker(settings, tmp_path / "worker.log")  # faust and its outputs
            try:
                wait_until(
                    lambda: set(events_applied(settings, users).values()) == {20},
                    timeout=120,
                    what="every event applied through TLS",
                )
            finally:
                worker.stop()
            recs = read_topic(settings, settings.topic_recommendations, expect=len(users))
            assert {k for k, _ in recs} == {u.encode() for u in users}

            forgot = subprocess.run(  # the CLI's consumer and producer over TLS
                [sys.executable, "-m", "streams.cli.main", "forget", users[0]],
                env={**settings.as_env(), "PATH": "/usr/bin:/bin"},
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert forgot.returncode == 0, forgot.stderr
            after = read_topic(settings, settings.topic_recommendations, expect=len(recs) + 1)
            assert [k for k, v in after if v is None] == [users[0].encode()]
            assert len(accepted) > 5

            # The front refuses plain text and a client without a certificate.
            for refused in (
                settings.replace(kafka_security_protocol="PLAINTEXT", kafka_ssl_ca="",
                                 kafka_ssl_cert="", kafka_ssl_key=""),
                settings.replace(kafka_ssl_cert="", kafka_ssl_key=""),
            ):  # fmt: skip
                with pytest.raises(KafkaConnectionError):
                    asyncio.run(_try_produce(refused))
    finally:
        broker.stop()
