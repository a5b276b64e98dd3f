"""The trainer's Prometheus metrics: refresh duration, gate result, validation NDCG."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from models.shadow import ShadowVerdict

REFRESH_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600)


class TrainerMetrics:
    """One registry per trainer; :meth:`refreshed` records one refresh."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.refresh_seconds = Histogram(
            "interests_trainer_refresh_seconds",
            "Wall time of one refresh (read, train, gate, publish).",
            buckets=REFRESH_BUCKETS,
            registry=r,
        )
        self.refreshes = Counter(
            "interests_trainer_refreshes_total",
            "Refreshes by result: published, rejected (by the gate), no_data, failed.",
            ["result"],
            registry=r,
        )
        for result in ("published", "rejected", "no_data", "failed"):
            self.refreshes.labels(result)
        self.ndcg = Gauge(
            "interests_trainer_validation_ndcg",
            "Validation NDCG@10 of the last refresh's candidate and current (baseline) model.",
            ["model"],
            registry=r,
        )
        self.positions_per_second = Gauge(
            "interests_trainer_positions_per_second",
            "Training throughput of the last refresh (sequence positions per second).",
            registry=r,
        )
        self.shadow_ndcg = Gauge(
            "interests_trainer_shadow_live_ndcg",
            "Live NDCG@K of the shadow candidate and the current version on the same events.",
            ["model"],
            registry=r,
        )
        self.shadow_events = Gauge(
            "interests_trainer_shadow_live_events",
            "Live events the shadow candidate has been scored on so far.",
            registry=r,
        )
        self.shadow_decisions = Counter(
            "interests_trainer_shadow_decisions_total",
            "Shadow candidates promoted or rejected on their live figures.",
            ["decision"],
            registry=r,
        )
        for decision in ("promote", "reject"):
            self.shadow_decisions.labels(decision)
        self.last_refresh = Gauge(
            "interests_trainer_last_refresh_timestamp_seconds",
            "Unix time the last refresh finished.",
            registry=r,
        )

    def shadowed(self, verdict: ShadowVerdict) -> None:
        """One look at the shadow candidate: its live figures, and the decision if any."""
        current, candidate = verdict.tally.mean_ndcg()
        self.shadow_ndcg.labels("current").set(current)
        self.shadow_ndcg.labels("candidate").set(candidate)
        self.shadow_events.set(verdict.tally.events)
        if verdict.decision != "wait":
            self.shadow_decisions.labels(verdict.decision).inc()

    def refreshed(
        self,
        seconds: float,
        published: bool,
        gated: tuple[float, float, float] | None,
        finished_at: float,
    ) -> None:
        """``gated``: (candidate NDCG, baseline NDCG, positions/s), None without data."""
        self.refresh_seconds.observe(seconds)
        self.last_refresh.set(finished_at)
        if gated is None:
            self.refreshes.labels("no_data").inc()
            return
        self.refreshes.labels("published" if published else "rejected").inc()
        candidate, baseline, positions = gated
        self.ndcg.labels("candidate").set(candidate)
        self.ndcg.labels("current").set(baseline)
        self.positions_per_second.set(positions)
