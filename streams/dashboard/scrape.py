"""What the dashboard reads from the workers' and trainer's ``/metrics``.

Each URL is scraped on every page load (a few KB of text); throughput is the
applied-events counter's change since the previous scrape of the same URL, and
freshness percentiles are read off the histograms' cumulative buckets (the
upper bound of the bucket holding the quantile, as Prometheus'
``histogram_quantile`` would bound it).
"""

from __future__ import annotations

import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

QUANTILES = (0.5, 0.95, 0.99)


@dataclass(slots=True)
class LiveQuality:
    scored: float = 0.0
    hits: float = 0.0
    ndcg: float = 0.0
    rr: float = 0.0
    window: dict[str, float] = field(default_factory=dict)  # hit_rate/ndcg/mrr of the window

    @property
    def hit_rate(self) -> float | None:
        return self.hits / self.scored if self.scored else None


@dataclass(slots=True)
class Target:
    """One scraped process: a worker or the trainer."""

    url: str
    up: bool
    error: str = ""
    kind: str = "worker"
    applied: float = 0.0
    events_per_s: float | None = None
    model_version: str | None = None
    model_age_s: float | None = None
    lag: float = 0.0


@dataclass(slots=True)
class Overview:
    """Every scraped process, and their figures summed."""

    targets: list[Target] = field(default_factory=list)
    applied: float = 0.0
    replayed: float = 0.0
    recommendations: float = 0.0
    events_per_s: float | None = None
    dead_letters: dict[str, float] = field(default_factory=dict)
    freshness: dict[str, dict[float, float | None]] = field(default_factory=dict)
    freshness_bound: dict[str, float] = field(default_factory=dict)  # largest finite bucket
    live: dict[str, LiveQuality] = field(default_factory=dict)  # by model version
    trainer: dict[str, float] = field(default_factory=dict)


def parse(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def quantile(buckets: Mapping[float, float], q: float) -> float | None:
    """Upper bound of the bucket that holds quantile ``q`` of a cumulative histogram
    (``inf`` when it is beyond the largest finite bound)."""
    ordered = sorted(buckets.items())
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    for bound, count in ordered:
        if count >= rank:
            return bound
    return ordered[-1][0]


class Scraper:
    """Scrapes the configured URLs; remembers the last counts for rates."""

    def __init__(self, urls: Iterable[str], timeout_s: float = 3.0) -> None:
        self.urls = list(urls)
        self.timeout_s = timeout_s
        self._previous: dict[str, tuple[float, float]] = {}  # url -> (time, applied)

    def fetch(self, url: str) -> Samples:
        with urllib.request.urlopen(url, timeout=self.timeout_s) as response:
            return parse(response.read().decode())

    def overview(self) -> Overview:
        out = Overview()
        buckets: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
        rates: list[float] = []
        for url in self.urls:
            try:
                samples = self.fetch(url)
            except (OSError, ValueError) as exc:
                out.targets.append(Target(url, up=False, error=str(exc)[:120]))
                continue
            target = self._target(url, samples)
            out.targets.append(target)
            if target.events_per_s is not None:
                rates.append(target.events_per_s)
            self._add(out, samples, buckets)
        out.events_per_s = sum(rates) if rates else None
        for name, series in buckets.items():
            out.freshness[name] = {q: quantile(series, q) for q in QUANTILES}
            out.freshness_bound[name] = max((b for b in series if b != float("inf")), default=0.0)
        return out

    def _target(self, url: str, samples: Samples) -> Target:
        def one(name: str) -> float | None:
            return samples.get((name, ()))

        now = time.monotonic()
        trainer = any(name.startswith("interests_trainer_") for name, _ in samples)
        applied = one("interests_events_applied_total") or 0.0
        target = Target(url, up=True, kind="trainer" if trainer else "worker", applied=applied)
        if not trainer:
            before = self._previous.get(url)
            self._previous[url] = (now, applied)
            if before is not None and now > before[0]:
                target.events_per_s = max(0.0, applied - before[1]) / (now - before[0])
        for (name, labels), value in samples.items():
            if name == "interests_model_info" and value == 1:
                target.model_version = dict(labels).get("version")
            elif name == "interests_consumer_lag_messages":
                target.lag += value
        target.model_age_s = one("interests_model_age_seconds")
        return target

    def _add(self, out: Overview, samples: Samples, buckets: dict[str, dict[float, float]]) -> None:
        for (name, label_items), value in samples.items():
            labels = dict(label_items)
            if name == "interests_events_applied_total":
                out.applied += value
            elif name == "interests_events_replayed_total":
                out.replayed += value
            elif name == "interests_recommendations_total":
                out.recommendations += value
            elif name == "interests_dead_letters_total":
                reason = labels.get("reason", "other")
                out.dead_letters[reason] = out.dead_letters.get(reason, 0.0) + value
            elif name in (
                "interests_freshness_state_seconds_bucket",
                "interests_freshness_recommendation_seconds_bucket",
            ):
                kind = name.removeprefix("interests_freshness_").removesuffix("_seconds_bucket")
                buckets[kind][float(labels["le"])] += value
            elif name.startswith("interests_live_") and "version" in labels:
                live = out.live.setdefault(labels["version"], LiveQuality())
                if name == "interests_live_scored_events_total":
                    live.scored += value
                elif name == "interests_live_hits_total":
                    live.hits += value
                elif name == "interests_live_ndcg_total":
                    live.ndcg += value
                elif name == "interests_live_reciprocal_rank_total":
                    live.rr += value
                elif name == "interests_live_window" and "measure" in labels:
                    live.window[labels["measure"]] = value
            elif name.startswith("interests_trainer_") and not name.endswith("_created"):
                key = name + "".join(f"{{{k}={v}}}" for k, v in label_items)
                out.trainer[key] = value
