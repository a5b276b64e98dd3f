"""Redis over TLS with the README's ACL user, on a real redis-server.

The fixture makes a CA, a server and a client certificate with ``openssl``,
starts ``redis-server`` with only a TLS port (client certificates required),
the default user off and an admin user, and creates the service user with the
exact ``ACL SETUSER`` line of the README's Security section. The worker's
store, the trainer's registry and the read client then do all they do, and
the server's command statistics must equal the commands that line grants.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import orjson
import pytest
import redis

from state import InterestReader, StoredUser, UserStateStore, UserWrite
from state.connection import RedisEndpoint, async_client, sync_client
from state.epoch import TopicEpochs
from state.followees import FolloweeReader, FollowOp
from state.item_ageing import ItemAgeing
from state.keys import KeyLayout
from state.model_registry import ModelRecord
from state.user_store import SharedWrite
from streams.devtools.embedded import (
    EmbeddedServices,
    ManagedProcess,
    free_port,
    start_process,
    start_worker,
)
from streams.settings import Settings
from streams.trainer.service import Trainer
from streams.worker.preflight import redis_answers
from tests.support.harness import isolated_settings, produce, wait_until
from tests.support.paths import REPO_ROOT

PREFIX = "ie:"  # the README's line grants the default prefix
DIM = 4
PASSWORD = "s3rvice-pw"
ADMIN = ("admin", "4dmin-pw")
# Always allowed (they log in), never granted by an ACL line; and redis-py's
# CLIENT SETINFO on connect (Redis >= 7.2), whose refusal the client ignores.
NOT_GRANTED = {"auth", "hello", "client", "client|setinfo"}


@dataclass(frozen=True)
class TlsRedis:
    port: int
    certs: Path

    def endpoint(self, user: tuple[str, str] | None, cert: bool = True) -> RedisEndpoint:
        login = f"{user[0]}:{user[1]}@" if user else ""
        return RedisEndpoint(
            f"rediss://{login}127.0.0.1:{self.port}/0",
            redis_tls_ca=str(self.certs / "ca.crt"),
            redis_tls_cert=str(self.certs / "client.crt") if cert else "",
            redis_tls_key=str(self.certs / "client.key") if cert else "",
        )


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _make_certs(certs: Path) -> None:
    """A CA, then a server (127.0.0.1, localhost) and a client certificate it signs."""
    key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
             "-subj", "/CN=interests-test-ca", cwd=certs)  # fmt: skip
    (certs / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    (certs / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for serial, name in enumerate(("server", "client"), 2):
        _openssl("req", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN=interests-{name}", cwd=certs)  # fmt: skip
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-set_serial", str(serial), "-days", "2", "-out", f"{name}.crt",
                 "-extfile", f"{name}.ext", cwd=certs)  # fmt: skip


def _start(workdir: Path, certs: Path, port: int) -> ManagedProcess:
    argv = [
        shutil.which("redis-server") or "redis-server",
        "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
        "--tls-cert-file", str(certs / "server.crt"),
        "--tls-key-file", str(certs / "server.key"),
        "--tls-ca-cert-file", str(certs / "ca.crt"),
        "--tls-auth-clients", "yes",
        "--user", "default", "off",
        "--user", ADMIN[0], "on", f">{ADMIN[1]}", "~*", "&*", "+@all",
        "--dir", str(workdir), "--save", "", "--appendonly", "no",
        "--logfile", str(workdir / "redis.log"),
    ]  # fmt: skip
    return start_process("redis-server (tls)", argv, port, workdir / "redis.stdout.log")


def readme_acl_line() -> list[str]:
    """The ``ACL SETUSER`` line of the README's Security section, as arguments."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    security = readme.split("\n## Security\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in security.splitlines() if line.startswith("ACL SETUSER ")]
    assert len(lines) == 1, "the Security section documents one ACL SETUSER line"
    return shlex.split(lines[0])


def granted_commands(acl_line: list[str]) -> set[str]:
    return {rule[1:].lower() for rule in acl_line if re.fullmatch(r"\+[a-z|]+", rule)}


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRedis]:
    if shutil.which("openssl") is None or shutil.which("redis-server") is None:
        pytest.skip("needs openssl and redis-server")
    workdir = tmp_path_factory.mktemp("redis-tls")
    certs = workdir / "certs"
    certs.mkdir()
    _make_certs(certs)
    server = TlsRedis(free_port(), certs)
    process = _start(workdir, certs, server.port)
    admin = sync_client(server.endpoint(ADMIN))
    try:
        acl = readme_acl_line()
        assert acl[:3] == ["ACL", "SETUSER", "interests"] and ">PASSWORD" in acl
        granted = (f">{PASSWORD}" if a == ">PASSWORD" else a for a in acl)
        admin.execute_command(*granted)  # type: ignore[no-untyped-call]
        yield server
    finally:
        admin.close()
        process.stop()


def _write(before: StoredUser, offset: int) -> UserWrite:
    return UserWrite(
        before=before,
        short_term=np.ones(DIM, np.float32),
        last_event_ts=1.0,
        events_applied=1,
        recent_items=["a"],
        topic="interactions",
        partition=0,
        offset=offset,
        model_version="online",
        recommendations=b"{}",
        new_items=["a"],
        long_term_state=np.ones(DIM, np.float32),
        follows=[FollowOp(True, "u1", 1.0), FollowOp(True, "u3", 2.0), FollowOp(False, "u3", 3.0)],
        followee_bound=1,
        social=np.ones(DIM, np.float32),
        social_at=1.0,
    )


async def _worker_side(endpoint: RedisEndpoint) -> None:
    """Every call the worker makes to Redis, through its store."""
    store = UserStateStore(async_client(endpoint), KeyLayout(PREFIX), DIM, 60, 10)
    try:
        await store.prepare()
        users = await store.load_users(["u1", "u2"])
        vector = np.ones(DIM, np.float32)
        shared = SharedWrite(
            "online", items={"a": vector}, events=2, mix_prior_delta=0.25, trending=["a"]
        )
        outcome = await store.write([_write(u, 3) for u in users.values()], shared)
        assert outcome.committed == [True, True] and outcome.shared_written
        assert (await store.load_recommendations(["u1"]))["u1"] == b"{}"
        followees = FolloweeReader(store.client, store.keys)  # the social part's reads
        assert (await followees.followees(["u2"]))["u2"] == {"u1": 1.0}
        assert set(await followees.rows(["u1", "nobody"])) == {"u1"}
        assert await followees.load_prior() == 0.0
        cursor = await store.item_changes_cursor("online")  # a reload's change log
        await store.add_new_items("online", {"b": vector})
        assert set(await store.load_items("online")) == {"a", "b"}
        assert "b" in (await store.load_changed_items("online", cursor))[0]
        await store.save_catalog({"a": b'{"item_id": "a"}'}, {"a": True, "b": False})
        assert await store.load_unavailable() == {"b"}
        assert await store.load_mix_prior() == 0.25
        assert await store.model_version("online") == "online"
        assert await store.load_gru_step("online") is None
        assert await store.load_projection("online") is None
        ageing = ItemAgeing(store.client, store.keys, 60)  # the worker's ageing timer
        await ageing.mark(["aged"], gone=["gone"], back=["back"], now=0.0)
        assert await ageing.sweep(now=1000.0) == (1, 1)
        assert not await TopicEpochs(store.client, store.keys).observe({"interactions": "id"})
    finally:
        await store.aclose()


def _trainer_side(settings: Settings) -> None:
    """Everything the trainer does to Redis, through its registry."""
    trainer = Trainer(settings)
    registry = trainer.registry
    try:
        assert registry.histories() == {"u1": ["a"], "u2": ["a"]}
        assert set(registry.catalog()) == {"a"}
        assert registry.events_total() == 2
        vector = np.ones(DIM, np.float32)
        for _ in range(3):
            version = registry.next_version()
            record = ModelRecord(version, "0" * 64, f"{version}.pt", ["a"], {})
            registry.publish(
                record,
                {"a": vector},
                {"u1": vector},
                b"projection",
                long_term_states={"u1": vector},
                gru_step=b"step",
            )
        assert registry.current_version() == "gru-3"
        assert registry.record("gru-3") is not None
        assert registry.collect_old_versions(keep_previous=1).versions == ["gru-1"]
    finally:
        trainer.close()


def _reader_side(endpoint: RedisEndpoint) -> None:
    reader = InterestReader(sync_client(endpoint), KeyLayout(PREFIX))
    try:
        user = reader.get_user("u1")
        assert user is not None and user.events_applied == 1 and user.long_term is not None
        assert reader.trending() == ["a"]
        assert reader.forget("u2", 60) and reader.get_user("u2") is None
    finally:
        reader.close()


def _command_stats(admin: redis.Redis) -> dict[str, dict[str, int]]:
    stats: dict[str, dict[str, int]] = admin.info("commandstats")
    return {name.removeprefix("cmdstat_"): row for name, row in stats.items()}


def test_service_works_over_tls_with_exactly_the_documented_commands(
    tls_redis: TlsRedis, tmp_path: Path
) -> None:
    service = tls_redis.endpoint(("interests", PASSWORD))
    settings = Settings.from_env(
        {},
        redis_url=service.redis_url,
        redis_tls_ca=service.redis_tls_ca,
        redis_tls_cert=service.redis_tls_cert,
        redis_tls_key=service.redis_tls_key,
        redis_prefix=PREFIX,
        model_dir=str(tmp_path / "models"),
    )
    admin = sync_client(tls_redis.endpoint(ADMIN))
    try:
        admin.config_resetstat()
        asyncio.run(redis_answers(settings, 5.0))  # the worker's start-up check
        asyncio.run(_worker_side(service))
        _trainer_side(settings)
        _reader_side(service)
        stats = _command_stats(admin)
    finally:
        admin.close()
    rejected = {n for n, row in stats.items() if row.get("rejected_calls", 0)} - NOT_GRANTED
    assert not rejected, f"the ACL user was refused {sorted(rejected)}"
    used = {name for name, row in stats.items() if row["calls"]} - NOT_GRANTED
    used -= {"config|resetstat"}  # the admin's own (INFO: the service's cluster check too)
    assert granted_commands(readme_acl_line()) == used


def test_default_user_plain_text_and_clients_without_a_certificate_are_refused(
    tls_redis: TlsRedis,
) -> None:
    attempts = {
        "default user": tls_redis.endpoint(None),
        "no client certificate": tls_redis.endpoint(("interests", PASSWORD), cert=False),
        "wrong password": tls_redis.endpoint(("interests", "guess")),
    }
    for what, endpoint in attempts.items():
        client = sync_client(endpoint)
        with pytest.raises((redis.AuthenticationError, redis.ConnectionError)):
            client.get(f"{PREFIX}trending")
            pytest.fail(f"{what} was let in")
        client.close()
    plain = redis.Redis.from_url(f"redis://127.0.0.1:{tls_redis.port}/0")
    with pytest.raises(redis.ConnectionError):
        plain.ping()
    plain.close()


def test_the_service_user_cannot_leave_its_prefix_or_administer(tls_redis: TlsRedis) -> None:
    client = sync_client(tls_redis.endpoint(("interests", PASSWORD)))
    try:
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.get("other-app:secret")
        for command in (("FLUSHALL",), ("CONFIG", "GET", "dir"), ("KEYS", "*"), ("ACL", "LIST")):
            with pytest.raises(redis.exceptions.NoPermissionError):
                client.execute_command(*command)  # type: ignore[no-untyped-call]
    finally:
        client.close()


def test_an_untrusted_server_certificate_is_refused(tls_redis: TlsRedis) -> None:
    # Without our CA the system store is used, which never signed this server.
    endpoint = replace(tls_redis.endpoint(("interests", PASSWORD)), redis_tls_ca="")
    client = sync_client(endpoint)
    with pytest.raises(redis.ConnectionError, match=r"(?i)certificate"):
        client.get(f"{PREFIX}trending")
    client.close()


@pytest.mark.slow
def test_a_worker_process_applies_events_over_tls(
    tls_redis: TlsRedis, services: EmbeddedServices, tmp_path: Path
) -> None:
    service = tls_redis.endpoint(("interests", PASSWORD))
    settings = isolated_settings(
        services,
        redis_url=service.redis_url,
        redis_tls_ca=service.redis_tls_ca,
        redis_tls_cert=service.redis_tls_cert,
        redis_tls_key=service.redis_tls_key,
        redis_prefix=PREFIX,
        redis_retry_max_s=0.5,
    )
    events = [
        (b"tls-user", orjson.dumps({"user_id": "tls-user", "item_id": f"i{n}", "type": "view",
                                    "ts": 1_700_000_000.0 + n}))
        for n in range(20)
    ]  # fmt: skip
    produce(settings, events)
    reader = InterestReader(sync_client(service), KeyLayout(PREFIX))
    admin = sync_client(tls_redis.endpoint(ADMIN))
    admin.acl_log_reset()
    worker = start_worker(settings, tmp_path / "worker.log")
    try:

        def applied() -> bool:
            user = reader.get_user("tls-user")
            return user is not None and user.events_applied == len(events)

        wait_until(applied, timeout=45, what="the worker to apply the events over TLS")
        refused = [entry for entry in admin.acl_log() if entry["username"] == "interests"]
        assert not refused, f"the worker was refused: {refused}"
    finally:
        worker.stop()
        reader.close()
        admin.close()
