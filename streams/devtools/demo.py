"""``interests demo``: the whole product on this machine, then a summary.

Starts a Tansu broker and a redis-server on free ports, a worker process and
the synthetic producer (with ~1% malformed events). Partway through, a
trainer process refreshes the long-term model; the demo shows, as they
happen, the watched users' recommendations following their drifting
interest, the published version and the worker's hot swap to it, each
user's blend, and the interest shifts the worker detects. It stops
everything it started; logs stay only where ``--workdir`` says.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer

from streams.devtools.demo_trainer import demo_model_settings, start_trainer
from streams.devtools.demo_view import (
    LEGEND,
    RecView,
    overtime_line,
    rec_line,
    refresh_failed_line,
    refresh_line,
    refresh_started_line,
    rerank_line,
    shift_line,
    swap_line,
    switch_line,
)
from streams.devtools.embedded import (
    EmbeddedServices,
    ManagedProcess,
    embedded_services,
    free_port,
    start_worker,
)
from streams.devtools.event_producer import EventProducer
from streams.devtools.latency import LatencyTracker
from streams.devtools.synthetic import DriftConfig, DriftingUsers, item_id
from streams.devtools.topic_reader import count_messages
from streams.read_side import open_reader
from streams.security import kafka_client_options
from streams.settings import Settings
from streams.topics import ensure_topics

MALFORMED_EVERY = 97
SHOWN_ITEMS = 5
SWITCH_EVERY = 60  # mean events per user between interest switches
LINE_EVERY_S = 3.0  # a watched user's line at most this often, unless something changed
SHIFT_LINES = 8  # shifts printed; the rest are counted in the summary
SHIFT_TRUTH_S = 15.0  # a shift this soon after a real switch of the user is "real"
OVERTIME_S = 40.0  # longest the stream goes on past its plan to show a late swap
DRAIN_S = 30.0  # longest wait for the last recommendations, and for the trainer


@dataclass(frozen=True)
class DemoPlan:
    """How long to stream, how fast, and when the trainer starts."""

    seconds: float
    rate: float
    users: int
    watch: int
    train_after: float


EMBEDDED_FETCH_WAIT_MS = 5
"""Tansu answers a fetch only after its wait (Apache Kafka answers when data comes):
every consumer hop on the embedded broker costs up to this; 20 ms gave ~10 ms per hop."""


def demo_settings(base: Settings, services: EmbeddedServices) -> Settings:
    """Point at the embedded services; fast group joins, short fetch waits, visible drift."""
    return base.replace(
        fetch_max_wait_ms=min(base.fetch_max_wait_ms, EMBEDDED_FETCH_WAIT_MS),
        kafka_bootstrap=services.kafka_bootstrap,
        redis_url=services.redis_url,
        broker_rebalance_timeout_s=3.0,
        broker_session_timeout_s=6.0,
        topic_partitions=4,
        short_term_half_life_s=min(base.short_term_half_life_s, 5.0),
    )


class DemoStream:
    """Synthetic events stamped with wall time, plus a malformed one now and then.

    Remembers each user's last real switch, the ground truth shifts are
    compared with.
    """

    def __init__(
        self, users: int, seed: int, latency: LatencyTracker, malformed_every: int = MALFORMED_EVERY
    ) -> None:
        self.malformed_every = malformed_every
        self.source = DriftingUsers(DriftConfig(users=users, seed=seed, switch_every=SWITCH_EVERY))
        self.latency = latency
        self.sent = 0
        self.malformed = 0
        self.users: set[str] = set()
        self.switches: dict[str, tuple[int, int, float]] = {}  # user -> (from, to, monotonic)
        self._interest = list(self.source.interest)

    def messages(
        self, until: float, overtime: Callable[[], bool] = lambda: False
    ) -> Iterator[tuple[bytes, bytes]]:
        """Events until ``until``; then on while ``overtime()`` says so, at most
        ``OVERTIME_S`` longer (a refresh slower than planned still shows its swap)."""
        announced = False
        while (now := time.monotonic()) < until or (now < until + OVERTIME_S and overtime()):
            if now >= until and not announced:
                announced = True
                print(overtime_line(OVERTIME_S), flush=True)
            self.sent += 1
            if self.malformed_every and self.sent % self.malformed_every == 0:
                self.malformed += 1
                yield b"u0", b'{"user_id": "u0", "type": "teleport"}'
                continue
            drawn = self.source.next()
            event = dataclasses.replace(drawn.event, ts=round(time.time(), 3))
            if drawn.switched:
                index = int(event.user_id[1:])
                self.switches[event.user_id] = (
                    self._interest[index],
                    drawn.category,
                    time.monotonic(),
                )
                self._interest[index] = drawn.category
            self.users.add(event.user_id)
            self.latency.sent(event.event_id or "", event.user_id)
            yield event.user_id.encode(), event.to_json()

    def interest(self, user_id: str) -> int:
        return self.source.interest[int(user_id[1:])]

    def truth(self, user_id: str) -> str:
        """Whether a detected shift of ``user_id`` follows a real switch."""
        switch = self.switches.get(user_id)
        if switch is not None and time.monotonic() - switch[2] <= SHIFT_TRUTH_S:
            old, new, at = switch
            return f"real: {user_id} switched c{old} -> c{new} {time.monotonic() - at:.1f}s before"
        return f"false alarm: no switch of {user_id} in the last {SHIFT_TRUTH_S:g}s"


@dataclass
class Shown:
    """What the demo last printed of one watched user."""

    items: list[str]
    wanted: int
    version: str
    at: float


@dataclass
class DemoWatch:
    """Reads recommendations, model updates and shifts; prints what changed."""

    settings: Settings
    stream: DemoStream
    watched: set[str]
    latency: LatencyTracker
    version: str | None = None
    versions: list[str] = field(default_factory=list)
    published: dict[str, float] = field(default_factory=dict)  # version -> monotonic
    shifts: int = 0
    real_shifts: int = 0
    shown: dict[str, Shown] = field(default_factory=dict)

    def topics(self) -> tuple[str, ...]:
        s = self.settings
        return (s.topic_recommendations, s.topic_model_updates, s.topic_interest_shifts)

    def handle(self, topic: str, value: bytes | None) -> None:
        if value is None:
            return
        message = orjson.loads(value)
        if topic == self.settings.topic_recommendations:
            self.recommendation(message)
        elif topic == self.settings.topic_model_updates:
            self.published[str(message.get("version"))] = time.monotonic()
            print(refresh_line(message), flush=True)
        else:
            self.shift(message)

    def recommendation(self, rec: dict[str, object]) -> None:
        self.latency.received(str(rec.get("event_id")))
        version = str(rec.get("model_version"))
        if version != self.version:
            if self.version is not None:
                at = self.published.get(version)
                after = None if at is None else time.monotonic() - at
                print(swap_line(self.version, version, after), flush=True)
            self.version = version
            self.versions.append(version)
        user = str(rec["user_id"])
        if user in self.watched:
            self.show(user, version, rec)

    def show(self, user: str, version: str, rec: dict[str, object]) -> None:
        items = [str(i["item_id"]) for i in rec["items"]][:SHOWN_ITEMS]  # type: ignore[attr-defined]
        if not items:
            return
        wanted = self.stream.interest(user)
        last = self.shown.get(user)
        now = time.monotonic()
        if last is not None:
            if last.items == items:
                return
            if last.wanted != wanted:
                print(switch_line(user, wanted), flush=True)
            elif last.version == version and now - last.at < LINE_EVERY_S:
                return
        self.shown[user] = Shown(items, wanted, version, now)
        share = self.long_term_share(user, version)
        print(rec_line(RecView(user, wanted, items, version, share)), flush=True)

    def long_term_share(self, user: str, version: str) -> float | None:
        """The user's blend weight of long-term, once they have a long-term vector of
        the version that ranked this recommendation."""
        reader = open_reader(self.settings)
        try:
            state = reader.get_user(user)
        finally:
            reader.close()
        if state is None or state.long_term is None or state.long_term_version != version:
            return None
        return state.mix_weight

    def shift(self, shift: dict[str, object]) -> None:
        self.shifts += 1
        truth = self.stream.truth(str(shift.get("user_id")))
        self.real_shifts += truth.startswith("real")
        if self.shifts <= SHIFT_LINES:
            print(shift_line(shift, truth), flush=True)
        if self.shifts == SHIFT_LINES:
            print("(further shifts are counted in the summary, not printed)", flush=True)


async def watch(watcher: DemoWatch, stop: asyncio.Event) -> None:
    """Follow the output topics from their start until ``stop``."""
    consumer = AIOKafkaConsumer(
        *watcher.topics(),
        bootstrap_servers=watcher.settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
        fetch_max_wait_ms=watcher.settings.fetch_max_wait_ms,
        **kafka_client_options(watcher.settings),
    )
    await consumer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200)
            for tp, records in batch.items():
                for record in records:
                    watcher.handle(tp.topic, record.value)
    finally:
        await consumer.stop()


@dataclass
class TrainerRun:
    """The demo's one refresh: started after ``plan.train_after`` seconds."""

    settings: Settings
    log_path: Path
    process: ManagedProcess | None = None
    status: int | None = None

    async def run(self, stream: DemoStream, watcher: DemoWatch, after: float) -> None:
        await asyncio.sleep(after)
        print(refresh_started_line(len(stream.users), stream.sent), flush=True)
        self.process = start_trainer(self.settings, self.log_path)
        while (status := self.process.process.poll()) is None:
            await asyncio.sleep(0.2)
        self.status = status
        await asyncio.sleep(1.0)  # the announcement may still be on its way to the watcher
        if not watcher.published:
            print(refresh_failed_line(status), flush=True)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


async def run_stream(
    settings: Settings, plan: DemoPlan, workdir: Path
) -> tuple[DemoStream, DemoWatch, LatencyTracker, float]:
    latency = LatencyTracker()
    stream = DemoStream(plan.users, settings.seed, latency)
    watcher = DemoWatch(settings, stream, {f"u{i}" for i in range(plan.watch)}, latency)
    stop = asyncio.Event()
    watching = asyncio.create_task(watch(watcher, stop))
    trainer = TrainerRun(settings, workdir / "trainer.log")
    training = asyncio.create_task(trainer.run(stream, watcher, plan.train_after))
    try:
        started = time.monotonic()
        async with EventProducer(settings) as producer:
            await producer.send_all(
                stream.messages(started + plan.seconds, lambda: _swap_pending(watcher, training)),
                plan.rate,
            )
        produced_for = time.monotonic() - started
        deadline = time.monotonic() + DRAIN_S
        while (latency.pending or not training.done()) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
    finally:
        training.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await training
        trainer.stop()
        stop.set()
        await watching
    return stream, watcher, latency, produced_for


def _swap_pending(watcher: DemoWatch, training: asyncio.Task[None]) -> bool:
    """The refresh may still publish, and no recommendation of a new version came yet."""
    if training.done() and not watcher.published:
        return False  # the trainer ended without publishing: nothing to wait for
    return len(watcher.versions) < 2


async def wait_for_worker(settings: Settings, worker: ManagedProcess, timeout: float) -> None:
    """Send one probe event and wait for its recommendation: the group is up."""
    latency = LatencyTracker()
    probe = DemoStream(1, settings.seed + 1, latency)
    watcher = DemoWatch(settings, probe, set(), latency)
    stop = asyncio.Event()
    watching = asyncio.create_task(watch(watcher, stop))
    async with EventProducer(settings) as producer:
        await producer.send_all(itertools.islice(probe.messages(time.monotonic() + 60), 1))
    deadline = time.monotonic() + timeout
    while latency.pending and time.monotonic() < deadline:
        if worker.process.poll() is not None:
            stop.set()
            raise RuntimeError("the worker exited while starting; see its log")
        await asyncio.sleep(0.2)
    stop.set()
    await watching
    if latency.pending:
        raise RuntimeError(f"the worker did not answer within {timeout:.0f}s")


def events_applied(settings: Settings) -> int:
    reader = open_reader(settings)
    try:
        keys = list(reader.client.scan_iter(match=reader.keys.user_pattern(), count=1000))
        return sum(int(reader.client.hget(k, "events_applied") or 0) for k in keys)  # type: ignore[arg-type,unused-ignore]
    finally:
        reader.close()


def rerank_demo(settings: Settings, stream: DemoStream, user_id: str = "u0") -> str:
    """Asks the running worker's ``POST /rerank`` to order one item of every category
    (and one it has never seen) for a watched user: their current category comes first
    when the model follows them."""
    categories = stream.source.config.categories
    candidates = [item_id(c, 0) for c in range(categories)] + ["no-such-item"]
    request = urllib.request.Request(
        f"http://127.0.0.1:{settings.rerank_port}/rerank",
        data=orjson.dumps({"user_id": user_id, "items": candidates}),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = orjson.loads(response.read())
    except (OSError, ValueError) as exc:
        return f"rerank: POST /rerank failed: {exc}"
    return rerank_line(user_id, stream.interest(user_id), settings.rerank_port, answer)


def run_demo(base: Settings, plan: DemoPlan, workdir: Path | None = None) -> int:
    with embedded_services(workdir) as services:
        settings = demo_model_settings(demo_settings(base, services), services.workdir / "models")
        settings = settings.replace(rerank_port=free_port())
        kept = f"; logs kept in {services.workdir}" if workdir is not None else ""
        print(f"broker {settings.kafka_bootstrap}, redis {settings.redis_url}{kept}", flush=True)
        asyncio.run(ensure_topics(settings))
        worker = start_worker(settings, services.workdir / "worker.log")
        try:
            print("waiting for the worker to join its group...", flush=True)
            asyncio.run(wait_for_worker(settings, worker, timeout=60))
            print(LEGEND, flush=True)
            print(
                f"\nstreaming {plan.rate:g} events/s for {plan.seconds:g}s "
                f"({plan.users} users whose interests drift); "
                f"the trainer starts after {plan.train_after:g}s:",
                flush=True,
            )
            stream, watcher, latency, produced_for = asyncio.run(
                run_stream(settings, plan, services.workdir)
            )
            print(rerank_demo(settings, stream), flush=True)
            applied = events_applied(settings) - 1  # less the probe
            dead = asyncio.run(count_messages(settings, settings.topic_dlq))
        finally:
            with contextlib.suppress(Exception):
                worker.stop()
    _summary(stream, watcher, latency, produced_for, applied, dead)
    return 0


def _summary(
    stream: DemoStream,
    watcher: DemoWatch,
    latency: LatencyTracker,
    produced_for: float,
    applied: int,
    dead: int,
) -> None:
    p50, p99 = latency.percentiles()
    print("\nsummary")
    print(f"  events sent        {stream.sent}")
    print(f"  events applied     {applied}")
    print(f"  dead-lettered      {dead} (of {stream.malformed} malformed on purpose)")
    print(f"  events/s           {applied / produced_for:.0f}")
    print(
        f"  event->rec latency p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms "
        f"({latency.count} events timed)"
    )
    print(f"  model versions     {' -> '.join(watcher.versions) or 'none'}")
    print(
        f"  interest shifts    {watcher.shifts} detected, {watcher.real_shifts} within "
        f"{SHIFT_TRUTH_S:g}s of a real switch ({len(stream.switches)} users switched)"
    )
