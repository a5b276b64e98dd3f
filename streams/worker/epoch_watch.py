"""Notices a recreated topic under a running worker and moves its stamps to a new epoch.

Asked at start and whenever a batch hints at it: some of its events look
like replays, or a partition's offsets went back (a consumer reset to the
start of a new log). A real replay (after a crash or a rebalance) costs one
metadata request per such batch; a recreated topic gets a new epoch
(:mod:`state.epoch`) before any of its events is skipped.
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient

from state.epoch import TopicEpochs
from streams.topic_ids import topic_ids

log = logging.getLogger(__name__)


class EpochWatch:
    """The epochs of ``topics``, checked against the broker's topic ids on demand."""

    def __init__(
        self,
        bootstrap: str,
        topics: list[str],
        epochs: TopicEpochs,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.client_options = client_options or {}
        self.topics = topics
        self.epochs = epochs
        self._admin: AIOKafkaAdminClient | None = None
        self._seen: dict[tuple[str, int], int] = {}

    def stamp(self, topic: str) -> str:
        return self.epochs.stamp(topic)

    def went_back(self, topic: str, partition: int, offset: int) -> bool:
        """True when ``offset`` is below one this worker already consumed there."""
        last = self._seen.get((topic, partition), -1)
        self._seen[(topic, partition)] = offset
        return offset < last

    async def check(self) -> bool:
        """True when some topic's epoch changed; a broker that cannot answer changes nothing.

        Redis errors propagate (the caller waits outages out)."""
        try:
            if self._admin is None:
                admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, **self.client_options)
                await admin.start()
                self._admin = admin
            ids = await topic_ids(self._admin, self.topics)
        except Exception as exc:
            log.warning("could not ask the broker for topic ids (%s); epochs unchanged", exc)
            await self.close()
            return False
        before = dict(self.epochs.epochs)
        changed = await self.epochs.observe(ids)
        if not before:
            log.info("topic epochs: %s", self.epochs.epochs)
        if changed:
            log.warning(
                "topic recreated: epochs %s -> %s; its events are new, not replays",
                before,
                self.epochs.epochs,
            )
        return changed

    async def close(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            try:
                await admin.close()
            except Exception as exc:
                log.debug("closing the admin client: %s", exc)
