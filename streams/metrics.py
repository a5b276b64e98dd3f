"""Serves a process's Prometheus registry on ``/metrics`` (worker and trainer alike).

prometheus_client's own HTTP server, in a daemon thread: a scrape never waits
on the event loop, and the loop never waits on a scrape. Bound to
``INTERESTS_METRICS_HOST`` (loopback by default); ``INTERESTS_METRICS_PORT=0``
serves nothing.
"""

from __future__ import annotations

import logging
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

from streams.settings import Settings

log = logging.getLogger(__name__)


def metrics_enabled(settings: Settings) -> bool:
    return settings.metrics_port > 0


def serve_metrics(registry: CollectorRegistry, settings: Settings) -> WSGIServer | None:
    """Start serving ``registry``; the server (``shutdown()`` stops it), or None when off."""
    if not metrics_enabled(settings):
        return None
    try:
        server, _ = start_http_server(
            settings.metrics_port, settings.metrics_host, registry=registry
        )
    except OSError as exc:  # a taken port must not stop the stream: say so, run without
        log.error(
            "cannot serve metrics on %s:%d (%s); running without /metrics",
            settings.metrics_host,
            settings.metrics_port,
            exc,
        )
        return None
    log.info("metrics on http://%s:%d/metrics", settings.metrics_host, settings.metrics_port)
    return server
