"""The trainer's Prometheus metrics: refresh duration, gate result, validation NDCG."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
        self.last_refresh = Gauge(
            "interests_trainer_last_refresh_timestamp_seconds",
            "Unix time the last refresh finished.",
            registry=r,
        )

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
