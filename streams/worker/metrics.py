"""A worker's Prometheus metrics, recorded once per batch from its :class:`Outgoing`.

The batch path only gathers figures into the batch's report (counts, event
times, Redis timings, live-quality ranks); this module turns a report into
counters and histograms, so the hooks in the path stay a few lines and the
metrics cost nothing per event when they are off. Dead letters are counted by
a small fixed set of reason classes (:data:`DEAD_LETTER_CLASSES`), never by
free text. Live quality is kept per model version: counters of scored
events, hits, NDCG and reciprocal-rank sums (rates are ratios of them) and
gauges of the rolling window of :class:`models.live_quality.LiveQuality`,
which :attr:`WorkerMetrics.live` also hands to an in-process dashboard.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from models.live_quality import LiveQuality
from streams.worker.interest_updater import DEAD_LETTER_CLASSES, Outgoing
from streams.worker.outputs import SendReport

BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
FRESHNESS_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)


class WorkerMetrics:
    """Every metric of one worker process, on a registry of its own."""

    def __init__(self, live_k: int, live_window: int) -> None:
        self.registry = r = CollectorRegistry()
        self.live = LiveQuality(live_k, live_window)
        self.applied = Counter(
            "interests_events_applied", "Interaction events applied to user state.", registry=r
        )
        self.replayed = Counter(
            "interests_events_replayed",
            "Interaction events skipped as replays (already applied, by stored offset).",
            registry=r,
        )
        self.dead_letters = Counter(
            "interests_dead_letters",
            "Messages sent to the dead-letter topic, by reason class.",
            ["reason"],
            registry=r,
        )
        for reason in DEAD_LETTER_CLASSES:
            self.dead_letters.labels(reason)
        self.recommendations = Counter(
            "interests_recommendations", "Recommendations produced.", registry=r
        )
        self.output_messages = Counter(
            "interests_output_messages",
            "Output messages (recommendations, shifts, dead letters) by fate: sent, dropped "
            "(the broker will never take them), failed (the whole send failed; logged).",
            ["fate"],
            registry=r,
        )
        self.output_retries = Counter(
            "interests_output_retries", "Retried sends of output batches.", registry=r
        )
        for fate in ("sent", "dropped", "failed"):
            self.output_messages.labels(fate)
        self.batch_size = Histogram(
            "interests_batch_size_events",
            "Messages per interaction batch.",
            buckets=BATCH_SIZE_BUCKETS,
            registry=r,
        )
        self.batch_seconds = Histogram(
            "interests_batch_seconds",
            "Time per interaction batch, by stage (apply: read, fold, score, write; produce).",
            ["stage"],
            buckets=SECONDS_BUCKETS,
            registry=r,
        )
        self.state_freshness = Histogram(
            "interests_freshness_state_seconds",
            "Event time to the user's state written in Redis, per applied event.",
            buckets=FRESHNESS_BUCKETS,
            registry=r,
        )
        self.recommendation_freshness = Histogram(
            "interests_freshness_recommendation_seconds",
            "Event time to the recommendation covering it accepted by the broker, per event.",
            buckets=FRESHNESS_BUCKETS,
            registry=r,
        )
        self.lag = Gauge(
            "interests_consumer_lag_messages",
            "Messages behind the partition's high watermark after the last handled batch.",
            ["topic", "partition"],
            registry=r,
        )
        self.redis_seconds = Histogram(
            "interests_redis_roundtrip_seconds",
            "Redis round trips of the batch path (read: users; write: users and shared state).",
            ["op"],
            buckets=SECONDS_BUCKETS,
            registry=r,
        )
        self.outage_seconds = Counter(
            "interests_redis_outage_seconds",
            "Seconds spent waiting out Redis outages and refusals.",
            registry=r,
        )
        self.model_info = Gauge(
            "interests_model_info", "The model version in use (value 1).", ["version"], registry=r
        )
        self.model_published = Gauge(
            "interests_model_published_timestamp_seconds",
            "Unix time the model in use was published (0 for the online-only model).",
            registry=r,
        )
        self._published_at = 0.0
        self._version: str | None = None
        age = Gauge(
            "interests_model_age_seconds",
            "Seconds since the model in use was published (0 for the online-only model).",
            registry=r,
        )
        age.set_function(lambda: time.time() - self._published_at if self._published_at else 0.0)
        labels = ["version"]
        self.live_scored = Counter(
            "interests_live_scored_events",
            "Events scored against the list their user was last shown, by the list's version.",
            labels,
            registry=r,
        )
        self.live_hits = Counter(
            "interests_live_hits",
            "Scored events whose item was in the top K shown.",
            labels,
            registry=r,
        )
        self.live_ndcg = Counter(
            "interests_live_ndcg", "Sum of NDCG@K of scored events.", labels, registry=r
        )
        self.live_rr = Counter(
            "interests_live_reciprocal_rank",
            "Sum of reciprocal rank@K of scored events.",
            labels,
            registry=r,
        )
        self.live_window = Gauge(
            "interests_live_window",
            "HR/NDCG/MRR@K over the last scored events of a version (rolling window).",
            ["version", "measure"],
            registry=r,
        )

    def batch(
        self, out: Outgoing, messages: int, apply_s: float, produce_s: float, produced_at: float
    ) -> None:
        """Record one handled interaction batch (its outputs accepted at ``produced_at``)."""
        self.batch_size.observe(messages)
        self.batch_seconds.labels("apply").observe(apply_s)
        self.batch_seconds.labels("produce").observe(produce_s)
        self.outputs(out)
        for lag in out.written_lag_s:
            self.state_freshness.observe(lag)
        for ts in out.event_ts:
            self.recommendation_freshness.observe(produced_at - ts)
        for seconds in out.redis_read_s:
            self.redis_seconds.labels("read").observe(seconds)
        for seconds in out.redis_write_s:
            self.redis_seconds.labels("write").observe(seconds)
        if out.outage_s:
            self.outage_seconds.inc(out.outage_s)
        self.live_quality(out.live)

    def outputs(self, out: Outgoing) -> None:
        """Counts of a batch (interactions or catalogue): applied, replays, dead letters."""
        self.applied.inc(out.applied)
        self.replayed.inc(out.skipped)
        self.recommendations.inc(len(out.recommendations))
        classified = 0
        for reason, count in out.rejected.items():
            self.dead_letters.labels(reason).inc(count)
            classified += count
        if len(out.dead_letters) > classified:
            self.dead_letters.labels("other").inc(len(out.dead_letters) - classified)

    def live_quality(self, scored: Iterable[tuple[str, int]]) -> None:
        """(list version, rank of the chosen item) pairs into counters and the window."""
        by_version: dict[str, list[int]] = defaultdict(list)
        for version, rank in scored:
            by_version[version].append(rank)
        for version, ranks in by_version.items():
            figures = self.live.add(version, ranks)
            self.live_scored.labels(version).inc(len(ranks))
            self.live_hits.labels(version).inc(float(figures.hits.sum()))
            self.live_ndcg.labels(version).inc(float(figures.ndcg.sum()))
            self.live_rr.labels(version).inc(float(figures.mrr.sum()))
            window = self.live.recent(version)
            self.live_window.labels(version, "hit_rate").set(window.hit_rate)
            self.live_window.labels(version, "ndcg").set(window.ndcg)
            self.live_window.labels(version, "mrr").set(window.mrr)

    def produced(self, report: SendReport | None, messages: int = 0) -> None:
        """The fate of a batch's outputs (``messages`` of them when the send failed whole)."""
        if report is None:
            self.output_messages.labels("failed").inc(messages)
            return
        self.output_messages.labels("sent").inc(report.sent)
        self.output_messages.labels("dropped").inc(report.dropped)
        self.output_retries.inc(report.retries)

    def consumer_lag(self, topic: str, partition: int, messages: int) -> None:
        self.lag.labels(topic, str(partition)).set(max(0, messages))

    def model(self, version: str, published_at: float | None) -> None:
        """The version in use now; ``published_at`` None for a version without a record."""
        if version == self._version:
            return
        if self._version is not None:
            self.model_info.remove(self._version)
        self._version = version
        self.model_info.labels(version).set(1)
        self._published_at = published_at or 0.0
        self.model_published.set(self._published_at)

    @property
    def version(self) -> str | None:
        return self._version
